#![cfg(loom)]
//! placeholder
#[test]
fn t() {
    loom::model(|| {});
}
