"""The shop's content pages as data: their fixed slugs, and plain text as HTML.

The footer links every page by its slug alone (no query per page). An admin
writes a page's body as plain text: a blank line starts a new paragraph, a
line of its own that starts with "## " is a heading, and "- " starts a list
item. Everything else is text: the body is escaped before it is shaped, so
no HTML an admin types ever reaches a page.
"""

from __future__ import annotations

from markupsafe import Markup, escape

from app.limits import META_DESCRIPTION_MAX

# slug -> the footer's link text, in the footer's order. Migration 0013
# writes a page for each.
PAGES = {
    "about": "About us",
    "contact": "Contact",
    "shipping": "Shipping",
    "returns": "Returns",
    "privacy": "Privacy",
    "terms": "Terms",
}


def blocks_of(text: str) -> list[list[str]]:
    """The body's blocks (runs of non-blank lines), each a list of its lines."""
    blocks: list[list[str]] = [[]]
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line.strip():
            blocks[-1].append(line.strip())
        elif blocks[-1]:
            blocks.append([])
    return [block for block in blocks if block]


def render_body(text: str) -> Markup:
    """Plain text to escaped HTML: paragraphs, "## " headings, "- " lists."""
    parts: list[Markup] = []
    for block in blocks_of(text):
        if len(block) == 1 and block[0].startswith("## "):
            parts.append(Markup("<h2>%s</h2>") % block[0][3:].strip())
        elif all(line.startswith("- ") for line in block):
            items = Markup("").join(
                Markup("<li>%s</li>") % line[2:].strip() for line in block
            )
            parts.append(Markup("<ul>%s</ul>") % items)
        else:
            lines = Markup("<br>\n").join(escape(line) for line in block)
            parts.append(Markup("<p>%s</p>") % lines)
    return Markup("\n").join(parts)


def summary(text: str, limit: int = META_DESCRIPTION_MAX) -> str:
    """The first paragraph's words, cut at a word near `limit`: a meta description."""
    words = " ".join(
        line.removeprefix("## ").removeprefix("- ")
        for block in blocks_of(text)
        for line in block
    ).split()
    result = ""
    for word in words:
        if len(result) + len(word) + 1 > limit - 1:
            return result + "…"
        result = f"{result} {word}" if result else word
    return result
