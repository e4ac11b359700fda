"""Steward's own badge colours keep WCAG AA contrast (4.5:1) with the text drawn on them
(white unless the rule says otherwise): #997404 ("changes requested", "limited" tier,
"medium" rating) was 4.33:1."""

import re
from pathlib import Path

import pytest

CSS = Path(__file__).resolve().parents[2] / "static" / "css" / "steward.css"
RULE = re.compile(r"(\.badge-[\w-]+(?:\s*,\s*\.badge-[\w-]+)*)\s*\{([^}]*)\}")
BACKGROUND = re.compile(r"background:\s*#([0-9a-f]{6})")
COLOUR = re.compile(r"(?<![-\w])color:\s*#([0-9a-f]{3,6})")


def luminance(hex_colour: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (0, 2, 4))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(one: str, other: str) -> float:
    light, dark = sorted((luminance(one), luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def full(hex_colour: str) -> str:
    return "".join(c * 2 for c in hex_colour) if len(hex_colour) == 3 else hex_colour


def badges() -> list[tuple[str, str, str]]:
    found = []
    for selector, body in RULE.findall(CSS.read_text()):
        background = BACKGROUND.search(body)
        if background:
            text = COLOUR.search(body)  # Bootstrap draws badge text white unless told
            found.append((selector, background[1], full(text[1]) if text else "ffffff"))
    return found


BADGES = badges()


def test_the_badge_rules_were_found():
    assert len(BADGES) > 15


@pytest.mark.parametrize(("selector", "background", "text"), BADGES)
def test_the_text_on_each_badge_colour_has_aa_contrast(selector, background, text):
    assert contrast(background, text) >= 4.5, f"{selector}: #{text} on #{background}"
