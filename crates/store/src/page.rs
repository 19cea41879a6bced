//! Keyset pages of the control plane's lists: at most `limit` rows after a cursor, and the
//! cursor of the next page. A cursor is opaque to clients (hex of the sort key's parts), so the
//! sort key can change without breaking anything but cursors in flight.

/// Which page of a list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// The sort key of the last row of the previous page, as [`Cursor::decode`] read it.
    pub after: Option<Vec<String>>,
    /// How many rows, at most.
    pub limit: i64,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page from up to `limit + 1` rows fetched in order: the extra row, if there, says that a
    /// next page exists, and `key` gives the cursor parts of the page's last row.
    pub fn from_rows(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> Vec<String>) -> Page<T> {
        let limit = usize::try_from(limit).unwrap_or(0);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor =
            if more { rows.last().map(|last| Cursor::encode(&key(last))) } else { None };
        Page { items: rows, next_cursor }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next_cursor: self.next_cursor }
    }
}

/// The cursor codec.
pub struct Cursor;

/// A cursor that is not one this service made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the cursor is not one this API gave out")]
pub struct BadCursor;

const SEPARATOR: char = '\u{1f}';

impl Cursor {
    pub fn encode(parts: &[String]) -> String {
        hex::encode(parts.join(&SEPARATOR.to_string()))
    }

    /// The parts of a cursor, which must be `arity` of them.
    pub fn decode(cursor: &str, arity: usize) -> Result<Vec<String>, BadCursor> {
        if cursor.len() > 4096 {
            return Err(BadCursor);
        }
        let bytes = hex::decode(cursor).map_err(|_| BadCursor)?;
        let text = String::from_utf8(bytes).map_err(|_| BadCursor)?;
        let parts: Vec<String> = text.split(SEPARATOR).map(str::to_string).collect();
        if parts.len() != arity || parts.iter().any(|p| p.chars().any(|c| c == '\0')) {
            return Err(BadCursor);
        }
        Ok(parts)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_what_they_did_not_make() {
        let parts = vec!["ada@contoso.com".to_string(), "1a2b".to_string()];
        let cursor = Cursor::encode(&parts);
        assert_eq!(Cursor::decode(&cursor, 2).unwrap(), parts);
        assert_eq!(Cursor::decode(&cursor, 1), Err(BadCursor));
        for bad in ["zz", "abc", &hex::encode([0xff, 0xfe]), &"00".repeat(3000)] {
            assert_eq!(Cursor::decode(bad, 2), Err(BadCursor), "{bad}");
        }
    }

    #[test]
    fn a_page_says_whether_another_follows() {
        let page = Page::from_rows(vec![1, 2, 3], 2, |n| vec![n.to_string()]);
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(Cursor::decode(page.next_cursor.as_deref().unwrap(), 1).unwrap(), vec!["2"]);
        let last = Page::from_rows(vec![1, 2], 2, |n| vec![n.to_string()]);
        assert_eq!(last.next_cursor, None);
    }
}
