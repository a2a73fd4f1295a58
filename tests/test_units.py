import pytest

from npusim.units import UnitError, capped_int, count_text, format_size, parse_frequency, parse_size


@pytest.mark.parametrize("text, expected", [
    ("64B", 64), ("32KiB", 32768), ("16MiB", 16 << 20), ("2GiB", 2 << 30), ("1TiB", 1 << 40),
    ("32 KiB", 32768), ("1.5KiB", 1536), ("4096", 4096), (4096, 4096), ("0", 0),
])
def test_sizes(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["4 MB", "4MB", "16KB", "1kB", "2GB", "3M", "8k", "1Mb"])
def test_decimal_looking_sizes_are_ambiguous(text):
    with pytest.raises(UnitError, match="ambiguous"):
        parse_size(text)


@pytest.mark.parametrize("text, why", [
    ("-5KiB", "negative"), ("1.3B", "whole number"), ("0.3KiB", "whole number"),
    ("12 parsecs", "unknown unit"), ("MiB", "not a size"), ("16XiB", "unknown unit"), (1.5, "not a size"),
    (True, "not a size"), (None, "not a size"), ("9" * 5000 + "MiB", "too large"),
])
def test_bad_sizes(text, why):
    with pytest.raises(UnitError, match=why):
        parse_size(text)


def test_frequency():
    assert parse_frequency("1GHz") == 10**9
    assert parse_frequency("800 MHz") == 800 * 10**6
    assert parse_frequency("1.6GHz") == 1_600_000_000
    with pytest.raises(UnitError):
        parse_frequency("1 GB")
    with pytest.raises(UnitError, match=r"^1000000000\.0 is not a frequency \(write hertz as an integer or use MHz/GHz"):
        parse_frequency(1.0e9)  # what YAML 1.2 makes of clock: 1.0e9


def test_format_size_roundtrip():
    for n in (64, 1536, 32768, 16 << 20, 3 << 30):
        assert parse_size(format_size(n)) == n
    assert format_size(16 << 20) == "16MiB"


def test_decimal_frequency_prefixes_and_signed_integers():
    from npusim.units import parse_int_text

    assert parse_frequency("800kHz") == 800_000 and parse_frequency("2 kHz") == 2_000
    assert parse_int_text("+5") == 5 and parse_int_text("-5") == -5 and parse_int_text("12") == 12
    for bad in ("1_0", "", "+", "5.0", "--5"):
        with pytest.raises(ValueError):
            parse_int_text(bad)


@pytest.mark.parametrize("text, expected", [("0.6", 0.6), (" 1e-3 ", 1e-3), ("-2.", -2.0), (".5", 0.5), ("inf", float("inf"))])
def test_decimal_numbers_as_files_and_flags_write_them(text, expected):
    from npusim.units import parse_float_text

    assert parse_float_text(text) == expected


@pytest.mark.parametrize("text", ["1_0", "\uff11.5", "0x10", "1e", "", "1.2.3", "infinity1"])
def test_python_only_number_spellings_are_not_numbers(text):
    from npusim.units import parse_float_text

    with pytest.raises(ValueError):
        parse_float_text(text)


@pytest.mark.parametrize("n, text", [(0, "0 ways"), (1, "1 way"), (2, "2 ways"), (12, "12 ways")])
def test_a_count_of_one_is_singular(n, text):
    assert count_text(n, "way") == text


@pytest.mark.parametrize("n, noun, plural, text", [(-1, "byte", None, "-1 byte"), (0, "Hz", "Hz", "0 Hz"),
                                                   (2, "Hz", "Hz", "2 Hz"), (1, "byte", "bytes", "1 byte")])
def test_a_count_of_one_or_minus_one_is_singular_and_some_nouns_keep_their_plural(n, noun, plural, text):
    assert count_text(n, noun, plural) == text


@pytest.mark.parametrize("text, value", [("64", 64), ("-3", -3), ("000000000000065536", 65536),
                                         ("1" * 13, 65537), ("1" * 5000, 65537), ("-" + "9" * 13, 65537)])
def test_capped_int_does_not_convert_more_digits_than_any_capped_field_holds(text, value):
    assert capped_int(text, 65536) == value
