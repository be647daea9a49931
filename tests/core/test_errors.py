"""The one domain error type: every concrete code is defined once, with everything both surfaces render."""

import re
from pathlib import Path

import pytest

from apps.core.errors import REQUIRED_ATTRIBUTES, PatchbayError, error_body, error_classes
from tests.error_examples import every_error_class, example

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize("error_class", every_error_class(), ids=lambda cls: cls.code)
def test_every_code_sets_status_title_message_and_resolution_itself(error_class):
    for name in REQUIRED_ATTRIBUTES:
        assert error_class.__dict__.get(name), f"{error_class.__qualname__} does not set {name}"
    assert re.fullmatch(r"[a-z][a-z_]*[a-z]", error_class.code)
    assert 400 <= error_class.status <= 599
    error = example(error_class)
    assert error.message and error.title and error.resolution


def test_codes_are_unique_across_every_app():
    classes = every_error_class()
    codes = [cls.code for cls in classes]
    assert len(codes) == len(set(codes))
    assert classes == sorted(classes, key=lambda cls: cls.code)


def test_a_second_class_with_an_existing_code_is_refused():
    with pytest.raises(TypeError, match="'not_found'"):

        class AnotherNotFound(PatchbayError):
            code = "not_found"
            message = "Gone."
            status = 404
            title = "Gone"
            resolution = "Look elsewhere."

    assert [cls.__name__ for cls in error_classes() if cls.code == "not_found"] == ["NotFound"]


def test_a_code_without_a_title_or_resolution_is_refused():
    with pytest.raises(TypeError, match="title, resolution"):

        class Untitled(PatchbayError):
            code = "untitled_for_this_test"
            message = "Something."
            status = 400

    assert "untitled_for_this_test" not in {cls.code for cls in error_classes()}


def test_a_subclass_of_a_code_does_not_inherit_its_title():
    """A new code restates all five: a copied title from its parent would describe the wrong failure."""
    (not_found,) = [cls for cls in error_classes() if cls.code == "not_found"]
    with pytest.raises(TypeError, match="message, status, title, resolution"):

        class CustomerGone(not_found):
            code = "customer_gone_for_this_test"


def test_a_family_of_errors_cannot_be_raised_itself():
    class Family(PatchbayError):
        """Groups codes; has none of its own."""

    with pytest.raises(TypeError, match="concrete"):
        Family()


def test_an_instance_may_say_more_than_its_class_but_not_less():
    (not_found,) = [cls for cls in error_classes() if cls.code == "not_found"]
    assert not_found("Customer not found.").message == "Customer not found."
    assert not_found().message == not_found.message


def test_the_internal_detail_shows_in_logs_but_never_in_the_body():
    (not_found,) = [cls for cls in error_classes() if cls.code == "not_found"]
    error = not_found(internal_detail="row 42 of tenant 7")
    assert "row 42" in str(error)
    assert "row 42" not in str(error_body(error))


def test_the_readme_lists_every_code_with_its_status():
    """The README's error table is written by hand; this keeps it from drifting from the code."""
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| (\d{3}) \|", README.read_text(), flags=re.M))
    listed = {code: int(status) for code, status in rows.items()}
    assert listed == {cls.code: cls.status for cls in every_error_class()}
