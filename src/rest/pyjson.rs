//! Where and why Python's `json` module refuses a text, in its words: FastAPI reports a
//! malformed body as `json_invalid` at `["body", <position>]` with `ctx.error` the message of
//! Python's `JSONDecodeError` (docs/rest.md, "Errors"). serde_json decides whether the body is
//! JSON; this only describes the failure as the reference does. Positions count characters.

/// Python's message and position for the first error in `text`, or None if Python would accept
/// it (NaN, Infinity and lone surrogates, which are not JSON).
pub fn decode_error(text: &str) -> Option<(&'static str, usize)> {
    let s: Vec<char> = text.chars().collect();
    let mut p = Parser { s: &s };
    let start = p.ws(0);
    match p.value(start) {
        Err(e) => Some(e),
        Ok(end) => {
            let end = p.ws(end);
            (end != s.len()).then_some(("Extra data", end))
        }
    }
}

struct Parser<'a> {
    s: &'a [char],
}

type Step = Result<usize, (&'static str, usize)>;

impl Parser<'_> {
    fn at(&self, i: usize) -> Option<char> {
        self.s.get(i).copied()
    }

    fn ws(&self, mut i: usize) -> usize {
        while matches!(self.at(i), Some(' ' | '\t' | '\n' | '\r')) {
            i += 1;
        }
        i
    }

    fn starts_with(&self, i: usize, word: &str) -> bool {
        word.chars()
            .enumerate()
            .all(|(k, c)| self.at(i + k) == Some(c))
    }

    /// `scan_once`: a value at `i`, or "Expecting value" at `i`.
    fn value(&mut self, i: usize) -> Step {
        match self.at(i) {
            Some('"') => self.string(i + 1),
            Some('{') => self.object(i + 1),
            Some('[') => self.array(i + 1),
            Some('n') if self.starts_with(i, "null") => Ok(i + 4),
            Some('t') if self.starts_with(i, "true") => Ok(i + 4),
            Some('f') if self.starts_with(i, "false") => Ok(i + 5),
            Some('N') if self.starts_with(i, "NaN") => Ok(i + 3),
            Some('I') if self.starts_with(i, "Infinity") => Ok(i + 8),
            Some('-') if self.starts_with(i, "-Infinity") => Ok(i + 9),
            _ => self.number(i).ok_or(("Expecting value", i)),
        }
    }

    /// `-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?`, the longest match.
    fn number(&self, i: usize) -> Option<usize> {
        let digits = |mut j: usize| {
            let from = j;
            while self.at(j).is_some_and(|c| c.is_ascii_digit()) {
                j += 1;
            }
            (j > from).then_some(j)
        };
        let mut j = i;
        if self.at(j) == Some('-') {
            j += 1;
        }
        j = match self.at(j) {
            Some('0') => j + 1,
            Some('1'..='9') => digits(j)?,
            _ => return None,
        };
        if self.at(j) == Some('.')
            && let Some(k) = digits(j + 1)
        {
            j = k;
        }
        if matches!(self.at(j), Some('e' | 'E')) {
            let mut k = j + 1;
            if matches!(self.at(k), Some('+' | '-')) {
                k += 1;
            }
            if let Some(k) = digits(k) {
                j = k;
            }
        }
        Some(j)
    }

    /// `scanstring` from just after the opening quote at `i - 1`.
    fn string(&self, mut i: usize) -> Step {
        let begin = i - 1;
        loop {
            match self.at(i) {
                None => return Err(("Unterminated string starting at", begin)),
                Some('"') => return Ok(i + 1),
                Some('\\') => match self.at(i + 1) {
                    None => return Err(("Unterminated string starting at", begin)),
                    Some('u') => {
                        let hex = (i + 2..i + 6)
                            .all(|k| self.at(k).is_some_and(|c| c.is_ascii_hexdigit()));
                        if !hex {
                            return Err(("Invalid \\uXXXX escape", i + 1));
                        }
                        i += 6;
                    }
                    Some('"' | '\\' | '/' | 'b' | 'f' | 'n' | 'r' | 't') => i += 2,
                    Some(_) => return Err(("Invalid \\escape", i)),
                },
                Some(c) if (c as u32) < 0x20 => return Err(("Invalid control character at", i)),
                Some(_) => i += 1,
            }
        }
    }

    /// `JSONObject` from just after `{`.
    fn object(&mut self, mut end: usize) -> Step {
        let mut next = self.at(end);
        if next != Some('"') {
            end = self.ws(end);
            next = self.at(end);
            if next == Some('}') {
                return Ok(end + 1);
            }
            if next != Some('"') {
                return Err(("Expecting property name enclosed in double quotes", end));
            }
        }
        end += 1;
        loop {
            end = self.string(end)?;
            if self.at(end) != Some(':') {
                end = self.ws(end);
                if self.at(end) != Some(':') {
                    return Err(("Expecting ':' delimiter", end));
                }
            }
            end = self.ws(end + 1);
            end = self.value(end)?;
            end = self.ws(end);
            let next = self.at(end);
            end += 1;
            match next {
                Some('}') => return Ok(end),
                Some(',') => {}
                _ => return Err(("Expecting ',' delimiter", end - 1)),
            }
            end = self.ws(end);
            let next = self.at(end);
            end += 1;
            if next != Some('"') {
                return Err(("Expecting property name enclosed in double quotes", end - 1));
            }
        }
    }

    /// `JSONArray` from just after `[`.
    fn array(&mut self, mut end: usize) -> Step {
        end = self.ws(end);
        if self.at(end) == Some(']') {
            return Ok(end + 1);
        }
        loop {
            end = self.value(end)?;
            end = self.ws(end);
            let next = self.at(end);
            end += 1;
            match next {
                Some(']') => return Ok(end),
                Some(',') => {}
                _ => return Err(("Expecting ',' delimiter", end - 1)),
            }
            end = self.ws(end);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_pythons() {
        for (text, expected) in [
            (" ", Some(("Expecting value", 1))),
            (
                "{",
                Some(("Expecting property name enclosed in double quotes", 1)),
            ),
            ("{\"name\": }", Some(("Expecting value", 9))),
            (
                "{\"a\": 1,}",
                Some(("Expecting property name enclosed in double quotes", 8)),
            ),
            ("{\"name\": \"n\"", Some(("Expecting ',' delimiter", 12))),
            ("tru", Some(("Expecting value", 0))),
            ("[1 2]", Some(("Expecting ',' delimiter", 3))),
            ("{\"a\" 1}", Some(("Expecting ':' delimiter", 5))),
            ("\"abc", Some(("Unterminated string starting at", 0))),
            ("{} x", Some(("Extra data", 3))),
            ("\"a\\x\"", Some(("Invalid \\escape", 2))),
            ("\"é\u{1}\"", Some(("Invalid control character at", 2))),
            ("{\"a\": [1, {\"b\": null}], \"c\": -1.5e3}", None),
            ("NaN", None),
        ] {
            assert_eq!(decode_error(text), expected, "{text:?}");
        }
    }
}
