"""The model card's edit form is styled like every other form (issue 18): each section is a
labelled Bootstrap text area with its help tied to it, and a section that is too long comes
back with what was typed and its error next to it."""

import re

import pytest

from registry.models import MODEL_CARD_SECTIONS
from tests.factories import ModelVersionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(retail, product_owner):
    return ModelVersionFactory(model__business_unit=retail, model__owner=product_owner)


def _textareas(html: str) -> dict[str, str]:
    return {
        re.search(r'name="(\w+)"', tag).group(1): tag
        for tag in re.findall(r"<textarea[^>]*>", html)
    }


def test_every_section_of_the_card_form_is_a_styled_labelled_control(
    client, product_owner, version
):
    client.force_login(product_owner)
    html = client.get(version.get_absolute_url()).content.decode()
    areas = _textareas(html)
    for key, title, _help in MODEL_CARD_SECTIONS:
        tag = areas[key]
        assert 'class="form-control"' in tag, f"{key} is unstyled: {tag}"
        assert f'aria-describedby="id_{key}_helptext"' in tag
        assert f'<label class="form-label fw-semibold" for="id_{key}">{title}' in html
        assert f'id="id_{key}_helptext" class="form-text"' in html


def test_a_section_too_long_is_kept_with_its_error_beside_it(client, product_owner, version):
    client.force_login(product_owner)
    response = client.post(
        version.get_absolute_url(),
        {"intended_use": "Scores claims for triage.", "caveats": "x" * 20001},
    )
    assert response.status_code == 400
    html = response.content.decode()
    tag = _textareas(html)["caveats"]
    assert "is-invalid" in tag and 'aria-invalid="true"' in tag
    assert 'id="id_caveats_errors"' in html
    assert "Scores claims for triage." in html
