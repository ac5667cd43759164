//! Kubernetes resource quantities (`100m`, `128Mi`, `1.5Gi`, `2e3`), parsed exactly.
//!
//! A [`Quantity`] holds its value as an integer count of nano-units (10⁻⁹), which is the finest
//! precision upstream keeps: parsing rounds anything finer *up* (away from zero), as upstream's
//! `resource.ParseQuantity` does, so "some resources" never becomes zero. It also remembers the
//! suffix family it was written in, because the canonical text form (what the API server writes
//! back, e.g. `1.5Gi` → `1536Mi`, `0.5` → `500m`, `1000` → `1k`) depends on it.

use std::cmp::Ordering;
use std::fmt;

/// Nano-units per unit.
const NANO: i128 = 1_000_000_000;

/// Which suffix family a quantity was written in; it decides the canonical form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `m`, `k`, `M`, ... or no suffix.
    DecimalSI,
    /// `Ki`, `Mi`, `Gi`, ...
    BinarySI,
    /// `e3`, `E-2`.
    DecimalExponent,
}

/// Why a string is not a quantity; the texts are upstream's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")]
    Format,
    #[error("unable to parse quantity's suffix")]
    Suffix,
    /// Upstream keeps arbitrary precision; skiff stops at ±1.7e29 units, far beyond any real use.
    #[error("quantity is too large")]
    TooLarge,
}

/// An exact, comparable resource quantity.
#[derive(Debug, Clone, Copy)]
pub struct Quantity {
    nanos: i128,
    format: Format,
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    /// Quantities compare by value only: `1Gi == 1024Mi`, `1 == 1000m`.
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl std::hash::Hash for Quantity {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.nanos.hash(state);
    }
}

impl Default for Quantity {
    fn default() -> Self {
        Quantity::zero()
    }
}

impl std::str::FromStr for Quantity {
    type Err = QuantityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Quantity::parse(s)
    }
}

/// The pieces of `[+-]digits[.digits]suffix`.
struct Parts<'a> {
    negative: bool,
    int: &'a str,
    frac: &'a str,
    suffix: &'a str,
}

/// Split a quantity string the way upstream's `parseQuantityString` does.
fn split(s: &str) -> Result<Parts<'_>, QuantityError> {
    let b = s.as_bytes();
    let mut pos = 0;
    let mut negative = false;
    if let Some(&c) = b.first()
        && (c == b'-' || c == b'+')
    {
        negative = c == b'-';
        pos = 1;
    }
    let digits_end = |from: usize| from + b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let int_end = digits_end(pos);
    let int = &s[pos..int_end];
    pos = int_end;
    let mut frac = "";
    if b.get(pos) == Some(&b'.') {
        let frac_end = digits_end(pos + 1);
        frac = &s[pos + 1..frac_end];
        pos = frac_end;
    }
    // The suffix: letters from the suffix alphabet, an optional sign, then digits only.
    let suffix_start = pos;
    pos += b[pos..].iter().take_while(|c| b"eEinumkKMGTP".contains(c)).count();
    if matches!(b.get(pos), Some(b'-' | b'+')) {
        pos += 1;
    }
    pos = digits_end(pos);
    if pos != s.len() {
        return Err(QuantityError::Format);
    }
    Ok(Parts { negative, int, frac, suffix: &s[suffix_start..] })
}

/// (base, exponent, format) for a suffix, as upstream's suffixer interprets it.
fn interpret(suffix: &str) -> Result<(u32, i32, Format), QuantityError> {
    let decimal = match suffix {
        "n" => Some(-9),
        "u" => Some(-6),
        "m" => Some(-3),
        "" => Some(0),
        "k" => Some(3),
        "M" => Some(6),
        "G" => Some(9),
        "T" => Some(12),
        "P" => Some(15),
        "E" => Some(18),
        _ => None,
    };
    if let Some(e) = decimal {
        return Ok((10, e, Format::DecimalSI));
    }
    let binary = match suffix {
        "Ki" => Some(10),
        "Mi" => Some(20),
        "Gi" => Some(30),
        "Ti" => Some(40),
        "Pi" => Some(50),
        "Ei" => Some(60),
        _ => None,
    };
    if let Some(e) = binary {
        return Ok((2, e, Format::BinarySI));
    }
    if suffix.len() > 1 && (suffix.starts_with('e') || suffix.starts_with('E')) {
        return suffix[1..].parse::<i32>().map(|e| (10, e, Format::DecimalExponent)).map_err(|_| QuantityError::Suffix);
    }
    Err(QuantityError::Suffix)
}

fn pow10(e: u32) -> Option<i128> {
    10i128.checked_pow(e)
}

impl Quantity {
    pub const fn zero() -> Self {
        Quantity { nanos: 0, format: Format::DecimalSI }
    }

    /// Parse upstream's quantity syntax. Precision finer than 1n is rounded up (away from zero).
    pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
        if s.is_empty() {
            return Err(QuantityError::Format);
        }
        let parts = split(s)?;
        let (base, exponent, format) = interpret(parts.suffix)?;

        // The digits as one integer `mantissa`, scaled by 10^-frac_len.
        let digits = format!("{}{}", parts.int, parts.frac).trim_start_matches('0').to_string();
        let frac_len = parts.frac.len() as i32;
        let mut nanos: i128 = if digits.is_empty() {
            0
        } else {
            // Work in nano-units: value = digits * 10^(9 - frac_len) * base^exponent.
            let mantissa: i128 = digits.parse().map_err(|_| QuantityError::TooLarge)?;
            let (mut num, mut den): (i128, i128) = (mantissa, 1);
            let shift = 9 - frac_len + if base == 10 { exponent } else { 0 };
            if shift >= 0 {
                num = num
                    .checked_mul(pow10(shift as u32).ok_or(QuantityError::TooLarge)?)
                    .ok_or(QuantityError::TooLarge)?;
            } else {
                // Finer than nano: the remainder is rounded up below. Past 10^38 it is all remainder.
                den = pow10((-shift) as u32).unwrap_or(i128::MAX);
            }
            if base == 2 {
                num = num
                    .checked_mul(1i128.checked_shl(exponent as u32).ok_or(QuantityError::TooLarge)?)
                    .ok_or(QuantityError::TooLarge)?;
                if exponent >= 127 {
                    return Err(QuantityError::TooLarge);
                }
            }
            let mut q = num / den;
            if num % den != 0 {
                q += 1;
            }
            q
        };
        if parts.negative {
            nanos = -nanos;
        }
        // Upstream caps binary quantities at 2^63-1 and floors them at zero, but only on its
        // arbitrary-precision path (fractions or overflow); plain integers keep their sign.
        let max = i128::from(i64::MAX) * NANO;
        if format == Format::BinarySI && (!parts.frac.is_empty() || nanos.abs() > max) {
            nanos = nanos.clamp(0, max);
        }
        Ok(Quantity { nanos, format })
    }

    /// A quantity of `n` whole units, printed in decimal form.
    pub fn from_units(n: i64) -> Self {
        Quantity { nanos: i128::from(n) * NANO, format: Format::DecimalSI }
    }

    /// A quantity of `n` thousandths, printed in decimal form (`from_millis(250)` is `250m`).
    pub fn from_millis(n: i64) -> Self {
        Quantity { nanos: i128::from(n) * 1_000_000, format: Format::DecimalSI }
    }

    /// The value in nano-units.
    pub fn nanos(&self) -> i128 {
        self.nanos
    }

    pub fn format(&self) -> Format {
        self.format
    }

    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    /// The value in thousandths, rounded up (away from zero), as upstream's `MilliValue`.
    pub fn milli_value(&self) -> i64 {
        clamp_i64(div_away(self.nanos, 1_000_000))
    }

    /// The value in whole units, rounded up (away from zero), as upstream's `Value`.
    pub fn value(&self) -> i64 {
        clamp_i64(div_away(self.nanos, NANO))
    }

    /// Round up to a multiple of 10^-3, keeping the format: what upstream's defaulting does to
    /// every `ResourceList` entry (`1n` becomes `1m`).
    pub fn round_up_to_milli(&self) -> Self {
        Quantity { nanos: div_away(self.nanos, 1_000_000) * 1_000_000, format: self.format }
    }

    /// Sum of two quantities, keeping this one's format.
    pub fn add(&self, other: &Quantity) -> Self {
        Quantity { nanos: self.nanos.saturating_add(other.nanos), format: self.format }
    }

    /// The canonical text form upstream serializes: no fractional digits, the largest suffix
    /// that loses nothing, in the family the quantity was written in.
    pub fn to_canonical(&self) -> String {
        if self.nanos == 0 {
            return "0".to_string();
        }
        let mut format = self.format;
        if format == Format::BinarySI {
            // Small or fractional binary values print in decimal rather than rounding.
            if self.nanos.abs() < 1024 * NANO || self.nanos % NANO != 0 {
                format = Format::DecimalSI;
            }
        }
        match format {
            Format::BinarySI => {
                let mut v = self.nanos / NANO;
                let mut exp = 0;
                while exp < 6 && v % 1024 == 0 {
                    v /= 1024;
                    exp += 1;
                }
                let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][exp];
                format!("{v}{suffix}")
            }
            Format::DecimalSI | Format::DecimalExponent => {
                // Strip trailing zeros, then step the exponent down to a multiple of three.
                let mut v = self.nanos;
                let mut exp: i32 = -9;
                while v % 10 == 0 {
                    v /= 10;
                    exp += 1;
                }
                match exp.rem_euclid(3) {
                    1 => {
                        v *= 10;
                        exp -= 1;
                    }
                    2 => {
                        v *= 100;
                        exp -= 2;
                    }
                    _ => {}
                }
                if format == Format::DecimalExponent {
                    return if exp == 0 { format!("{v}") } else { format!("{v}e{exp}") };
                }
                // Beyond exa there is no suffix; keep exa and grow the number.
                while exp > 18 {
                    v *= 1000;
                    exp -= 3;
                }
                let suffix = match exp {
                    -9 => "n",
                    -6 => "u",
                    -3 => "m",
                    0 => "",
                    3 => "k",
                    6 => "M",
                    9 => "G",
                    12 => "T",
                    15 => "P",
                    _ => "E",
                };
                format!("{v}{suffix}")
            }
        }
    }
}

/// `n / d` rounded away from zero.
fn div_away(n: i128, d: i128) -> i128 {
    let q = n / d;
    if n % d == 0 {
        q
    } else if n > 0 {
        q + 1
    } else {
        q - 1
    }
}

fn clamp_i64(v: i128) -> i64 {
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_canonical())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_suffixes() {
        assert_eq!(q("100m").milli_value(), 100);
        assert_eq!(q("1").milli_value(), 1000);
        assert_eq!(q("128Mi").value(), 128 * 1024 * 1024);
        assert_eq!(q("1.5Gi").value(), 1536 * 1024 * 1024);
        assert_eq!(q("2e3").value(), 2000);
        assert_eq!(q("1k").value(), 1000);
        assert_eq!(q("1E").value(), 1_000_000_000_000_000_000);
        assert_eq!(q("5n").nanos(), 5);
        assert_eq!(q("-1.5").milli_value(), -1500);
        assert_eq!(q("+3").value(), 3);
        assert_eq!(q(".5").milli_value(), 500);
        assert_eq!(q("1.").value(), 1);
        assert_eq!(q("0").value(), 0);
        assert_eq!(q("1e-3").milli_value(), 1);
    }

    #[test]
    fn rejects_malformed() {
        for bad in ["", "abc", "1x", "1Ki1", "1.2.3", "--1", "1 Gi", "1e", "1ee3"] {
            assert!(Quantity::parse(bad).is_err(), "{bad:?} should fail");
        }
        assert_eq!(Quantity::parse("1Q").unwrap_err(), QuantityError::Format);
        assert_eq!(Quantity::parse("1mi").unwrap_err(), QuantityError::Suffix);
    }

    #[test]
    fn rounds_up_below_nano_and_when_scaling() {
        assert_eq!(q("0.1n").nanos(), 1);
        assert_eq!(q("1.5m").milli_value(), 2);
        assert_eq!(q("1n").round_up_to_milli().to_canonical(), "1m");
        assert_eq!(q("1500m").value(), 2);
        assert_eq!(q("-1500m").value(), -2);
    }

    #[test]
    fn compares_by_value() {
        assert_eq!(q("1Gi"), q("1024Mi"));
        assert_eq!(q("1"), q("1000m"));
        assert!(q("500m") < q("1"));
        assert!(q("1Ki") > q("1k"));
        let mut v = vec![q("2"), q("100m"), q("1Mi")];
        v.sort();
        assert_eq!(v, vec![q("100m"), q("2"), q("1Mi")]);
    }

    #[test]
    fn canonical_forms_match_upstream() {
        for (input, want) in [
            ("1.5", "1500m"),
            ("1.5Gi", "1536Mi"),
            ("1024Mi", "1Gi"),
            ("1000", "1k"),
            ("1000m", "1"),
            ("0.5", "500m"),
            ("100m", "100m"),
            ("2e3", "2e3"),
            ("1e3", "1e3"),
            ("1.5e3", "1500"),
            ("0.5Ki", "512"),
            ("1000Mi", "1000Mi"),
            ("0Mi", "0"),
            ("10G", "10G"),
            ("12e6", "12e6"),
            ("-1Ki", "-1Ki"),
            ("-0.5Ki", "0"),
            ("-5", "-5"),
            ("1.1Ki", "1126400m"),
        ] {
            assert_eq!(q(input).to_canonical(), want, "{input}");
        }
    }
}
