from docutils import nodes
from sphinx.addnodes import pending_xref

from ebsdlib.book.sphinxext import chapter_not_built, unique_scripts


def _link(target: str, kind: str = "doc"):
    return pending_xref("", reftype=kind, reftarget=target), nodes.inline("", "Chapter 1, Data")


def test_a_link_to_a_chapter_the_build_left_out_reads_as_its_text():
    node, text = _link("01_data")
    assert chapter_not_built(None, None, node, text) is text
    node, text = _link("book/08_generalisation")
    assert chapter_not_built(None, None, node, text) is text


def test_a_link_to_any_other_missing_page_is_left_to_fail_the_build():
    for target, kind in (("claims", "doc"), ("1_data", "doc"), ("01_Data", "doc"), ("01_data", "ref")):
        node, text = _link(target, kind)
        assert chapter_not_built(None, None, node, text) is None, (target, kind)


def test_each_script_is_kept_once_in_its_first_order():
    class Script:
        def __init__(self, filename, **attributes):
            self.filename, self.attributes = filename, attributes

    a, b, inline, inline_again = Script("a.js"), Script("b.js"), Script(None, body="x"), Script("", body="x")
    assert unique_scripts([a, b, a, inline, inline_again]) == [a, b, inline]
