//! A small RFC 4180 reader for contact imports: comma-separated fields, records ended by
//! CRLF or LF, double-quoted fields that may hold commas, quotes (`""`) and line breaks.
//!
//! Written here rather than pulled in because imports need exactly this much: the whole
//! file is in memory (the body limit bounds it), every record keeps its number for error
//! reports, and a malformed file must become a 422 naming the record, never a panic.
//! Spreadsheet exports are the input, so it is lenient where they are sloppy (a UTF-8
//! byte-order mark, a quote inside an unquoted field, blank lines, no final line break)
//! and strict only where guessing would shift columns (text after a closing quote, a
//! quote never closed).

/// One record of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its number in the file, the header being record 1 (what a spreadsheet shows as the
    /// row number when no field spans lines).
    pub number: u32,
    /// The fields, unquoted, untrimmed.
    pub fields: Vec<String>,
}

/// Why a file is not CSV.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    /// The bytes are not UTF-8.
    #[error("the file is not UTF-8 text (byte {0})")]
    NotUtf8(usize),
    /// A quoted field is followed by something other than a comma or a line break.
    #[error("record {0}: a quoted field must end at a comma or a line break")]
    TextAfterQuote(u32),
    /// A quoted field runs to the end of the file.
    #[error("record {0}: a quoted field is never closed")]
    UnclosedQuote(u32),
}

/// Parses a whole file. Blank lines are skipped (they are not records and take no
/// number).
pub fn parse(bytes: &[u8]) -> Result<Vec<Record>, CsvError> {
    let text = std::str::from_utf8(bytes).map_err(|e| CsvError::NotUtf8(e.valid_up_to()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut number = 1u32;
    let mut chars = text.chars().peekable();
    // Whether the current record has anything yet (a blank line has nothing).
    let mut started = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if field.is_empty() => {
                started = true;
                // A quoted field: read to its closing quote.
                loop {
                    match chars.next() {
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some('"') => break,
                        Some(c) => field.push(c),
                        None => return Err(CsvError::UnclosedQuote(number)),
                    }
                }
                match chars.peek() {
                    None | Some(',') | Some('\n') | Some('\r') => {}
                    Some(_) => return Err(CsvError::TextAfterQuote(number)),
                }
                // Push at the comma here: an empty quoted field (`""`) leaves `field`
                // empty, and the generic comma arm below cannot tell it was there.
                if chars.peek() == Some(&',') {
                    chars.next();
                    fields.push(std::mem::take(&mut field));
                    continue;
                }
            }
            ',' => {
                started = true;
                fields.push(std::mem::take(&mut field));
            }
            '\r' | '\n' => {
                if c == '\r' && chars.peek() == Some(&'\n') {
                    chars.next();
                }
                if started || !field.is_empty() {
                    fields.push(std::mem::take(&mut field));
                    records.push(Record {
                        number,
                        fields: std::mem::take(&mut fields),
                    });
                    number = number.saturating_add(1);
                }
                started = false;
            }
            c => {
                started = true;
                field.push(c);
            }
        }
    }
    if started || !field.is_empty() {
        fields.push(field);
        records.push(Record { number, fields });
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(text: &str) -> Vec<Vec<String>> {
        parse(text.as_bytes())
            .unwrap()
            .into_iter()
            .map(|r| r.fields)
            .collect()
    }

    #[test]
    fn plain_quoted_and_multiline_fields() {
        assert_eq!(
            fields("phone,name\r\n+1 650,\"Nelson, Sheena\"\n2,\"say \"\"hi\"\"\"\n"),
            vec![
                vec!["phone", "name"],
                vec!["+1 650", "Nelson, Sheena"],
                vec!["2", "say \"hi\""]
            ]
        );
        let r = parse(b"a,b\n\"line\nbreak\",x\ny,z").unwrap();
        assert_eq!(r[1].fields, ["line\nbreak", "x"]);
        assert_eq!((r[1].number, r[2].number), (2, 3));
        assert_eq!(r[2].fields, ["y", "z"]);
    }

    #[test]
    fn empty_fields_blank_lines_bom_and_stray_quotes() {
        assert_eq!(
            fields("\u{feff}a,b,c\n\n,,\n\"\",\"\",x\n1,2\"3,\"\"\n"),
            vec![
                vec!["a", "b", "c"],
                vec!["", "", ""],
                vec!["", "", "x"],
                vec!["1", "2\"3", ""]
            ]
        );
        let r = parse(b"h\n\n\nv\n").unwrap();
        assert_eq!(r[1].number, 2, "blank lines take no number");
        assert_eq!(fields("a,\n"), vec![vec!["a", ""]]);
    }

    #[test]
    fn malformed_files_name_the_record() {
        assert_eq!(parse(b"a\n\"x\"y\n"), Err(CsvError::TextAfterQuote(2)));
        assert_eq!(parse(b"a\nb\n\"open"), Err(CsvError::UnclosedQuote(3)));
        assert_eq!(parse(b"a\n\xff"), Err(CsvError::NotUtf8(2)));
    }
}
