"""Drop repeated inline <script> blocks from every page.

sphinx-thebe 0.3.1 (pulled in by jupyter-book 1) registers its inline configuration script with
``app.add_js_file(None, body=...)`` after the HTML builder exists; Sphinx 7.4 then keeps it twice (once from
the registry, once from the builder), and the second copy raises "Identifier 'THEBE_JS_URL' has already been
declared" in every browser. scripts/check_book.py fails on any JavaScript error, so this removes the copy.
"""

from __future__ import annotations


def _dedupe(app, pagename, templatename, context, doctree):
    seen = set()
    kept = []
    for script in context.get("script_files", []):
        filename = getattr(script, "filename", script)  # None and "" both mean an inline script
        key = (str(filename or ""), tuple(sorted(getattr(script, "attributes", {}).items())))
        if key in seen:
            continue
        seen.add(key)
        kept.append(script)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
