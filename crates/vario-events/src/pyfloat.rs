//! Python's `float(str)`, which the reference SDK applies to a string `value` tag
//! (events.md §7): surrounding whitespace, `_` between digits and non-ASCII decimal
//! digits are accepted; the result is then kept only when finite.

/// First code point of each block of ten Unicode decimal digits (general category Nd)
/// beyond ASCII, as of Unicode 14 (Python 3.11); `float("٣.٥")` is `3.5`.
const DIGIT_ZEROS: [u32; 65] = [
    0x660, 0x6f0, 0x7c0, 0x966, 0x9e6, 0xa66, 0xae6, 0xb66, 0xbe6, 0xc66, 0xce6, 0xd66, 0xde6, 0xe50, 0xed0, 0xf20,
    0x1040, 0x1090, 0x17e0, 0x1810, 0x1946, 0x19d0, 0x1a80, 0x1a90, 0x1b50, 0x1bb0, 0x1c40, 0x1c50, 0xa620, 0xa8d0,
    0xa900, 0xa9d0, 0xa9f0, 0xaa50, 0xabf0, 0xff10, 0x104a0, 0x10d30, 0x11066, 0x110f0, 0x11136, 0x111d0, 0x112f0,
    0x11450, 0x114d0, 0x11650, 0x116c0, 0x11730, 0x118e0, 0x11950, 0x11c50, 0x11d50, 0x11da0, 0x16a60, 0x16ac0,
    0x16b50, 0x1d7ce, 0x1d7d8, 0x1d7e2, 0x1d7ec, 0x1d7f6, 0x1e140, 0x1e2f0, 0x1e950, 0x1fbf0,
];

/// The value of a non-ASCII decimal digit.
fn unicode_digit(c: char) -> Option<u8> {
    let cp = u32::from(c);
    let block = DIGIT_ZEROS.partition_point(|&zero| zero <= cp).checked_sub(1)?;
    let offset = cp - DIGIT_ZEROS[block];
    u8::try_from(offset).ok().filter(|&d| d < 10)
}

/// `float(text)` as Python computes it, when that is finite.
pub fn python_float(text: &str) -> Option<f64> {
    // Rust's whitespace (Unicode White_Space) is exactly what `float()` strips.
    let text = text.trim();
    if text.is_ascii() && !text.contains('_') {
        return finite(text);
    }
    let mut ascii = String::with_capacity(text.len());
    let mut prev = '\0';
    for c in text.chars() {
        let c = match c {
            '_' => {
                // Python allows `_` only between two digits.
                if !prev.is_ascii_digit() {
                    return None;
                }
                prev = '_';
                continue;
            }
            c if c.is_ascii() => c,
            c => char::from(b'0' + unicode_digit(c)?),
        };
        if prev == '_' && !c.is_ascii_digit() {
            return None;
        }
        ascii.push(c);
        prev = c;
    }
    if prev == '_' {
        return None;
    }
    finite(&ascii)
}

/// Rust's float grammar equals Python's once `_` and non-ASCII digits are gone; the two
/// differ only in spelling infinities and NaN, which are refused anyway.
fn finite(ascii: &str) -> Option<f64> {
    ascii.parse::<f64>().ok().filter(|f| f.is_finite())
}

#[cfg(test)]
mod tests {
    use super::python_float;

    #[test]
    fn accepts_what_python_accepts() {
        let cases: [(&str, f64); 16] = [
            ("3.5", 3.5),
            (" 7 ", 7.0),
            ("\u{a0}7\u{3000}", 7.0),
            ("\u{85} 1", 1.0),
            ("1_000", 1000.0),
            ("1e1_0", 1e10),
            ("+1_0.0_1e-0_1", 1.001),
            ("1.", 1.0),
            (".5", 0.5),
            ("+.5", 0.5),
            ("-0", -0.0),
            ("1e-400", 0.0),
            ("\u{667}", 7.0),
            ("\u{661}_\u{662}", 12.0),
            ("\u{663}.\u{665}", 3.5),
            ("\u{ff11}\u{ff12}", 12.0),
        ];
        for (text, expected) in cases {
            assert_eq!(python_float(text), Some(expected), "{text:?}");
        }
        assert_eq!(python_float("\u{1d7ce}"), Some(0.0));
    }

    #[test]
    fn refuses_what_python_refuses_or_is_not_finite() {
        for text in [
            "",
            " ",
            "abc",
            "1__0",
            "_1",
            "1_",
            "1_.5",
            "1._5",
            "1_e5",
            "1e_5",
            "1e",
            "0x10",
            "1 0",
            "\u{200b}1",
            "\u{feff}1",
            "\u{1c}7\u{1f}",
            "1\0",
            "inf",
            "-Infinity",
            "nan",
            "nAn",
            "1e400",
            "1,5",
            "\u{660}\u{66b}5",
        ] {
            assert_eq!(python_float(text), None, "{text:?}");
        }
    }
}
