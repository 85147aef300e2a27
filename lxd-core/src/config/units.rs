//! Byte sizes as LXD writes them (`512MiB`, `2GB`, `1GiB`, a plain number of bytes).

use super::ConfigError;

/// Parses a byte size the way LXD's `units.ParseByteSizeString` does: an integer followed by
/// nothing, `B`, ` bytes`, a decimal suffix (`kB`, `MB`, `GB`, `TB`, `PB`, `EB`) or a binary
/// one (`KiB`, `MiB`, `GiB`, `TiB`, `PiB`, `EiB`). Fractions, signs and other suffixes are errors.
pub fn parse_size(input: &str) -> Result<u64, String> {
    let digits = input.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(format!("Invalid value: {input}"));
    }
    let (value, suffix) = input.split_at(digits);
    let value: u64 = value
        .parse()
        .map_err(|_| format!("Invalid integer: {input}"))?;
    let multiplier: u64 = match suffix {
        "" | "B" | " bytes" => 1,
        "kB" => 1000,
        "MB" => 1000u64.pow(2),
        "GB" => 1000u64.pow(3),
        "TB" => 1000u64.pow(4),
        "PB" => 1000u64.pow(5),
        "EB" => 1000u64.pow(6),
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        "PiB" => 1 << 50,
        "EiB" => 1 << 60,
        _ => return Err(format!("Invalid value: {input}")),
    };
    value
        .checked_mul(multiplier)
        .filter(|v| *v <= i64::MAX as u64)
        .ok_or_else(|| format!("Value too large: {input}"))
}

/// Parses a size for a config key, naming the key and the value in the error.
pub fn parse_size_key(key: &str, value: &str) -> Result<u64, ConfigError> {
    parse_size(value).map_err(|reason| ConfigError::invalid(key, value, reason))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn lxd_units() {
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("1kB"), Ok(1000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("10B"), Ok(10));
        assert_eq!(parse_size("7 bytes"), Ok(7));
    }

    #[test]
    fn rejects_what_lxd_rejects() {
        for bad in [
            "lots",
            "",
            "1.5GB",
            "-1GB",
            "1gb",
            "1 GB",
            "GiB",
            "1KB",
            "1Gi",
            "99999999999EiB",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} accepted");
        }
    }
}

/// Formats a byte count with the largest binary unit that divides it (`5GiB`, `1536MiB`,
/// `4097B`), as LXD writes sizes back.
pub fn format_size(bytes: u64) -> String {
    const UNITS: &[(&str, u64)] = &[
        ("EiB", 1 << 60),
        ("PiB", 1 << 50),
        ("TiB", 1 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ];
    for (name, size) in UNITS {
        if bytes >= *size && bytes.is_multiple_of(*size) {
            return format!("{}{name}", bytes / size);
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod format_tests {
    use super::{format_size, parse_size};

    #[test]
    fn round_trips() {
        for b in [5u64 << 30, 1536 << 20, 4097, 0, 1 << 10] {
            assert_eq!(parse_size(&format_size(b)), Ok(b));
        }
        assert_eq!(format_size(5 << 30), "5GiB");
    }
}
