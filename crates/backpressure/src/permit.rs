//! Reserve-then-send: [`Permit`], a slot taken before the item exists.
//!
//! A permit is a slot (and, on a weighted queue, some weight) already taken
//! from the admission semaphore and not yet used. Sending through it pushes
//! into the channel, which always has room for a slot holder; dropping it
//! unsent gives the slot back. Either way the slot is accounted for exactly
//! once, so permits can neither leak capacity nor exceed it.

use std::fmt;
use std::sync::Arc;

use crate::error::SendError;
use crate::shared::Shared;

/// A reserved slot in a queue, from [`Sender::reserve`](crate::Sender::reserve)
/// or [`Sender::try_reserve`](crate::Sender::try_reserve).
///
/// Owned (`'static`): it can move into a spawned task that builds the job.
/// Dropping it without sending gives the slot back.
///
/// # Examples
///
/// ```
/// use evenkeel_backpressure::bounded;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (tx, rx) = bounded(4);
/// match tx.try_reserve() {
///     Ok(permit) => {
///         let job = format!("job built only after admission");
///         permit.send(job).unwrap();
///     }
///     Err(_) => { /* answer 503 */ }
/// }
/// assert_eq!(rx.len(), 1);
/// # }
/// ```
#[must_use = "a permit holds a queue slot until it is used or dropped"]
pub struct Permit<T> {
    shared: Arc<Shared<T>>,
    /// Weight units reserved along with the slot.
    weight: u32,
    /// `false` once the slot has been used or given back.
    armed: bool,
}

impl<T> Permit<T> {
    pub(crate) fn new(shared: Arc<Shared<T>>, weight: u32) -> Self {
        Self {
            shared,
            weight,
            armed: true,
        }
    }

    /// Enqueues `item` in the reserved slot. Never waits.
    ///
    /// On a weighted queue, if the item weighs more than the permit
    /// reserved, the difference is taken from the budget if free now.
    ///
    /// # Errors
    ///
    /// With the item: [`SendError::Closed`] if the queue closed since the
    /// reservation; on a weighted queue, [`SendError::Full`] if the extra
    /// weight is not free and [`SendError::TooHeavy`] if the item exceeds
    /// the whole budget. The slot is given back in every error case.
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::{SendError, bounded};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (tx, rx) = bounded(1);
    /// let permit = tx.reserve().await.unwrap();
    /// rx.close();
    /// assert!(matches!(permit.send("late"), Err(SendError::Closed("late"))));
    /// # }
    /// ```
    pub fn send(mut self, item: T) -> Result<(), SendError<T>> {
        let shared = &*self.shared;
        let weight = shared.weigh(&item);
        if weight > self.weight {
            if shared.too_heavy(weight) {
                shared.counters.on_reject();
                return Err(SendError::TooHeavy(item));
            }
            if let Some(w) = &shared.weight {
                match w.units.try_acquire_many(weight - self.weight) {
                    Ok(extra) => extra.forget(),
                    Err(err) => {
                        let closed = matches!(err, tokio::sync::TryAcquireError::Closed);
                        return Err(if closed {
                            SendError::Closed(item)
                        } else {
                            shared.counters.on_reject();
                            SendError::Full(item)
                        });
                    }
                }
            }
        } else if weight < self.weight
            && let Some(w) = &shared.weight
        {
            w.units.add_permits((self.weight - weight) as usize);
        }
        // From here the slot and exactly `weight` units back the item; `push`
        // gives both back itself if it fails.
        self.armed = false;
        shared.push(item, weight).map_err(SendError::Closed)
    }

    /// The weight units this permit holds (0 unless it came from
    /// [`Sender::reserve_weight`](crate::Sender::reserve_weight)).
    ///
    /// # Examples
    ///
    /// ```
    /// use evenkeel_backpressure::bounded;
    ///
    /// let (tx, _rx) = bounded::<u8>(1);
    /// assert_eq!(tx.try_reserve().unwrap().weight(), 0);
    /// ```
    pub fn weight(&self) -> u32 {
        self.weight
    }
}

impl<T> Drop for Permit<T> {
    fn drop(&mut self) {
        if self.armed {
            self.shared.release(self.weight);
        }
    }
}

impl<T> fmt::Debug for Permit<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("weight", &self.weight)
            .field("armed", &self.armed)
            .finish_non_exhaustive()
    }
}
