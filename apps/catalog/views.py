import re
from pathlib import Path

import simple_icons_pack
from django.http import Http404, HttpResponse
from django.utils.html import escape
from django.views.decorators.cache import cache_control

from apps.catalog.schema import SIMPLE_ICONS_PREFIX
from apps.catalog.selectors import provider_get

MONOGRAM_SVG = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" role="img" aria-label="{label}">\
<rect width="64" height="64" rx="14" fill="{color}"/>\
<text x="32" y="41" text-anchor="middle" font-family="Inter,Segoe UI,Helvetica,Arial,sans-serif" \
font-size="{size}" font-weight="700" fill="{ink}">{letters}</text></svg>"""

BRAND_ICON_SVG = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" role="img" aria-label="{label}">\
<rect width="64" height="64" rx="14" fill="{color}"/>\
<svg x="14" y="14" width="36" height="36" viewBox="{view_box}" fill="{ink}">{shapes}</svg></svg>"""
ICON_PARTS = re.compile(
    r'viewBox="(?P<view_box>[^"]+)".*?(?:</title>)?(?P<shapes><(?:path|circle|rect|polygon|g)\b.*)</svg>\s*$', re.S
)


def monogram_letters(display_name: str) -> str:
    words = [w for w in display_name.replace("-", " ").split() if w[:1].isalnum()]
    if len(words) >= 2:
        return (words[0][0] + words[1][0]).upper()
    return display_name[:2].upper() if len(display_name) > 1 else display_name.upper()


def ink_for(color: str) -> str:
    red, green, blue = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return "#111827" if (red * 299 + green * 587 + blue * 114) / 1000 > 160 else "#FFFFFF"


def brand_icon_svg(*, slug: str, label: str, color: str) -> str | None:
    """The simple-icons glyph (CC0, from the pinned package) drawn on a tile in the brand colour."""
    icon = simple_icons_pack.get_icon(slug)
    parts = ICON_PARTS.search(icon.svg) if icon else None
    if parts is None:
        return None
    return BRAND_ICON_SVG.format(
        label=escape(label), color=color, ink=ink_for(color), view_box=parts["view_box"], shapes=parts["shapes"]
    )


@cache_control(public=True, max_age=3600)
def provider_logo(request, name: str):
    """The brand icon when the catalog names one (simple-icons or a committed SVG), otherwise a monogram."""
    provider = provider_get(name=name, enabled_only=False)
    if provider is None:
        raise Http404("Unknown provider")
    definition = provider.definition
    logo = definition.get("logo") or ""
    if logo.startswith(SIMPLE_ICONS_PREFIX):
        svg = brand_icon_svg(
            slug=logo.removeprefix(SIMPLE_ICONS_PREFIX), label=definition["display_name"], color=definition["color"]
        )
        if svg is not None:
            return HttpResponse(svg, content_type="image/svg+xml")
    elif logo:
        logo_path = Path(provider.source_file).parent / definition["logo"]
        if logo_path.suffix == ".svg" and logo_path.is_file():
            return HttpResponse(logo_path.read_bytes(), content_type="image/svg+xml")
    letters = monogram_letters(definition["display_name"])
    svg = MONOGRAM_SVG.format(
        label=escape(definition["display_name"]),
        color=definition["color"],
        ink=ink_for(definition["color"]),
        letters=escape(letters),
        size=28 if len(letters) == 1 else 24,
    )
    return HttpResponse(svg, content_type="image/svg+xml")
