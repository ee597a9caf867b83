//! A JSON body extractor whose every failure is a JSON error with the right
//! status.
//!
//! axum's own `Json` extractor answers its rejections in plain text, and
//! folds "too large" into a generic body error. This one checks, in order:
//!
//! 1. the content type is JSON (`application/json` or `application/*+json`,
//!    parameters allowed), else **415**;
//! 2. the body fits the limit: a `Content-Length` above it is refused before
//!    reading, and a body that streams past it is cut off by
//!    [`http_body_util::Limited`], else **413**;
//! 3. the bytes parse as JSON, else **400**;
//! 4. the JSON has the expected shape (required fields, types, no unknown
//!    fields), else **422**.
//!
//! Step 3 parses the bytes into a [`serde_json::Value`]: only a syntax
//! error can fail there ([`category`](serde_json::Error::classify) tells).
//! Step 4 then requires an object and deserializes `T` from it; every
//! failure there is about the shape of a well-formed document.

use axum::extract::{FromRef, FromRequest, Request};
use axum::http::{HeaderMap, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::error::Category;

use super::error::ApiError;

/// The largest body [`ApiJson`] reads, taken from the router state.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit(pub usize);

/// Extracts a JSON body as `T`, answering failures with [`ApiError`].
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
    BodyLimit: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let BodyLimit(limit) = BodyLimit::from_ref(state);
        if !is_json(req.headers()) {
            return Err(ApiError::unsupported_media_type());
        }
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > limit as u64) {
            return Err(ApiError::too_large(limit));
        }
        let body = Limited::new(req.into_body(), limit);
        let bytes = match body.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
                return Err(ApiError::too_large(limit));
            }
            Err(e) => return Err(ApiError::malformed(format!("could not read body: {e}"))),
        };
        parse(&bytes).map(ApiJson)
    }
}

/// Parses `bytes` as a JSON object of shape `T`: a syntax error is 400; a
/// document that is not an object, or an object of the wrong shape, is 422.
///
/// The object check is explicit because serde would otherwise accept a
/// struct written as an array (`[1, 2]` as `{"payload": 1, "work_ms": 2}`).
///
/// # Errors
///
/// [`ApiError::malformed`] or [`ApiError::invalid`].
///
/// ```
/// use axum::http::StatusCode;
/// use evenkeel_demo::server::{parse_json, JobRequest};
///
/// let err = parse_json::<JobRequest>(b"{ nope").unwrap_err();
/// assert_eq!(err.status(), StatusCode::BAD_REQUEST);
/// let err = parse_json::<JobRequest>(br#"{"work_ms": 3}"#).unwrap_err();
/// assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
/// let err = parse_json::<JobRequest>(b"[1, 2]").unwrap_err();
/// assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
/// ```
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        Category::Data => ApiError::invalid(e),
        Category::Syntax | Category::Eof | Category::Io => ApiError::malformed(e),
    })?;
    if !value.is_object() {
        return Err(ApiError::invalid("the body must be a JSON object"));
    }
    T::deserialize(value).map_err(ApiError::invalid)
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind == "application" && (subtype == "json" || subtype.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(content_type: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(content_type).unwrap(),
        );
        map
    }

    #[test]
    fn json_content_types_are_recognised() {
        assert!(is_json(&headers("application/json")));
        assert!(is_json(&headers("application/json; charset=utf-8")));
        assert!(is_json(&headers("application/vnd.job+json")));
        assert!(!is_json(&headers("text/plain")));
        assert!(!is_json(&headers("application/jsonx")));
        assert!(!is_json(&HeaderMap::new()));
    }
}
