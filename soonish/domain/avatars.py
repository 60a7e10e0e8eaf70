"""Pictures made here from a seed, never fetched: a person's identicon (a mirrored 5x5 grid, in
the manner of GitHub's and Gravatar's, so no address goes to a third party) and an event's
visual when it has no cover (a gradient and a pattern picked from the event, so two events'
pages and share cards don't look alike)."""
import base64
import colorsys
import hashlib
from functools import lru_cache

GRID = 5


def _digest(seed: str) -> bytes:
    return hashlib.sha256(seed.encode()).digest()


def _colour(byte: int, saturation: float, lightness: float) -> str:
    red, green, blue = colorsys.hls_to_rgb(byte / 255, lightness, saturation)
    return f"#{round(red * 255):02x}{round(green * 255):02x}{round(blue * 255):02x}"


@lru_cache(maxsize=4096)
def identicon_svg(seed: str) -> str:
    """A 5x5 mirrored grid in one colour from ``seed`` on a light ground."""
    digest = _digest(seed)
    colour = _colour(digest[0], 0.55, 0.42)  # dark enough for 3:1 against the ground
    cells = []
    for row in range(GRID):
        for column in range((GRID + 1) // 2):
            if digest[1 + row * 3 + column] % 2:
                for x in {column, GRID - 1 - column}:
                    cells.append(f'<rect x="{x + 1}" y="{row + 1}" width="1" height="1"/>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 7 7" shape-rendering="crispEdges">'
            f'<rect width="7" height="7" fill="#f1f0f7"/><g fill="{colour}">{"".join(cells)}</g></svg>')


def identicon_data_uri(seed: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(identicon_svg(seed).encode()).decode()


PATTERNS = ("circles", "stripes", "dots")


def event_colours(seed: str) -> tuple[str, str]:
    """Two deep colours (white text stays legible on both) picked from ``seed``."""
    digest = _digest(seed)
    return _colour(digest[0], 0.6, 0.38), _colour((digest[0] + 60 + digest[1] % 80) % 256, 0.65, 0.3)


def event_pattern(seed: str) -> str:
    return PATTERNS[_digest(seed)[2] % len(PATTERNS)]


@lru_cache(maxsize=1024)
def event_visual_svg(seed: str) -> str:
    """A 1200x630 gradient in two colours and a pattern from ``seed``."""
    digest = _digest(seed)
    start, end = event_colours(seed)
    pattern = event_pattern(seed)
    if pattern == "circles":
        shapes = "".join(f'<circle cx="{200 + digest[3 + i] * 4}" cy="{digest[8 + i] * 2.5:.0f}" r="{60 + digest[12 + i]}"/>'
                         for i in range(4))
    elif pattern == "stripes":
        shapes = "".join(f'<rect x="{i * 160 - 300}" y="-200" width="50" height="1200" transform="rotate(30)"/>'
                         for i in range(12))
    else:
        shapes = "".join(f'<circle cx="{x}" cy="{y}" r="6"/>' for x in range(40, 1200, 80) for y in range(40, 630, 80))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1200 630" preserveAspectRatio="xMidYMid slice">'
            f'<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="{start}"/>'
            f'<stop offset="1" stop-color="{end}"/></linearGradient></defs>'
            f'<rect width="1200" height="630" fill="url(#g)"/><g fill="#fff" fill-opacity="0.12">{shapes}</g></svg>')


def event_visual_data_uri(seed: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(event_visual_svg(seed).encode()).decode()
