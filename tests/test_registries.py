from harvest import registries


def test_each_registry_number_is_recognised_with_its_exact_pattern():
    text = ("Registered at ClinicalTrials.gov (NCT03384433), IRCT (IRCT20170117032004N1), ISRCTN14654908, "
            "ChiCTR-IOR-17013035, ChiCTR2000029990, EudraCT 2015-001894-41, CTIS 2023-503456-12-00, "
            "ACTRN12619000123456, jRCT2031210087, UMIN000012345, DRKS00012345 and CTRI/2019/05/019123.")
    assert registries.find_in_text(text) == [
        ("nct", "NCT03384433"), ("irct", "IRCT20170117032004N1"), ("isrctn", "ISRCTN14654908"),
        ("chictr", "ChiCTR-IOR-17013035"), ("chictr", "ChiCTR2000029990"), ("eudract", "2015-001894-41"),
        ("ctis", "2023-503456-12-00"), ("actrn", "ACTRN12619000123456"), ("jrct", "jRCT2031210087"),
        ("umin", "UMIN000012345"), ("drks", "DRKS00012345"), ("ctri", "CTRI/2019/05/019123")]


def test_near_misses_are_not_registry_numbers():
    assert registries.find_in_text("NCT0338443 and NCT033844331 and ISRCTN1234567 and 2016-A00749-42") == []
    assert registries.scheme_of("R01DC011020") is None


def test_spelling_is_canonical():
    assert registries.scheme_of("nct03384433") == ("nct", "NCT03384433")
    assert registries.scheme_of("EUCTR2015-001894-41") == ("eudract", "2015-001894-41")


def test_each_registry_number_is_found_alone_in_ascii_text_and_beside_non_ascii_text():
    # The cheap test that spares most abstracts the full pattern must pass every identifier,
    # in both of its paths (ASCII text, other text).
    examples = ["NCT03384433", "IRCT20170117032004N1", "ISRCTN14654908", "ChiCTR-IOR-17013035", "ChiCTR2000029990",
                "2015-001894-41", "2023-503456-12-00", "ACTRN12619000123456", "jRCT2031210087", "UMIN000012345",
                "DRKS00012345", "ctri/2019/05/019123", "KCT0001234"]
    for example in examples:
        for text in (f"Registered ({example}).", f"Registré ({example}) – ß."):
            assert [scheme for scheme, _ in registries.find_in_text(text)] == [registries.scheme_of(example)[0]], text
