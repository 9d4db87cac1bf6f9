//! List paging: `?limit=` (default 50, max 500) and an opaque `cursor`; responses are
//! `{items, next_cursor}`.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{AppError, AppResult, FieldError};

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page size.
pub const MAX_LIMIT: u32 = 500;

/// Paging query parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A validated page request over a list ordered by ids of type `K`.
#[derive(Debug, Clone, Copy)]
pub struct Page<K> {
    /// Items wanted.
    pub limit: u32,
    /// Return items after this id.
    pub after: Option<K>,
}

/// Checks a requested page size (default [`DEFAULT_LIMIT`]); an out-of-range one is recorded in `errors`.
pub fn check_limit(limit: Option<u32>, errors: &mut Vec<FieldError>) -> u32 {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        errors.push(FieldError::new("limit", format!("must be between 1 and {MAX_LIMIT}")));
    }
    limit
}

impl PageQuery {
    /// Validates the limit (422 when out of range) and decodes the cursor (400 when malformed).
    pub fn page<K: From<uuid::Uuid>>(&self) -> AppResult<Page<K>> {
        let mut errors = Vec::new();
        let limit = check_limit(self.limit, &mut errors);
        if !errors.is_empty() {
            return Err(AppError::Validation(errors));
        }
        let after = match self.cursor.as_deref() {
            None | Some("") => None,
            Some(c) => Some(
                decode_cursor(c)
                    .map(K::from)
                    .ok_or_else(|| AppError::BadRequest("invalid cursor".to_owned()))?,
            ),
        };
        Ok(Page { limit, after })
    }

    /// Rows to fetch: one more than the limit, to learn whether another page follows.
    pub fn fetch<K>(page: Page<K>) -> i64 {
        i64::from(page.limit) + 1
    }
}

/// Cursors are the last id of a page, hex-encoded; clients must treat them as opaque.
fn encode_cursor(id: uuid::Uuid) -> String {
    hex::encode(id.as_bytes())
}

fn decode_cursor(c: &str) -> Option<uuid::Uuid> {
    let bytes = hex::decode(c).ok()?;
    uuid::Uuid::from_slice(&bytes).ok()
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paged<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Paged<T> {
    /// Builds a page from `limit + 1` fetched rows of an id-ordered list, mapping each kept row with `view`.
    pub fn from_rows<R, K: Into<uuid::Uuid>>(
        page: Page<K>,
        rows: Vec<R>,
        id: impl Fn(&R) -> K,
        view: impl Fn(R) -> T,
    ) -> Self {
        Self::from_rows_with(page, rows, |r| encode_cursor(id(r).into()), view)
    }

    /// Like [`Paged::from_rows`] with a caller-defined cursor for the last kept row.
    pub fn from_rows_with<R, K>(
        page: Page<K>,
        mut rows: Vec<R>,
        cursor: impl Fn(&R) -> String,
        view: impl Fn(R) -> T,
    ) -> Self {
        let more = rows.len() > page.limit as usize;
        rows.truncate(page.limit as usize);
        let next_cursor = if more { rows.last().map(cursor) } else { None };
        Paged {
            items: rows.into_iter().map(view).collect(),
            next_cursor,
        }
    }
}
