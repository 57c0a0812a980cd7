from __future__ import annotations

import json
import re

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tuneforge.data import load_records
from tuneforge.errors import ConfigError, DataError

from .conftest import write


def test_load_csv_reads_text_label_and_line_sources(tmp_path, make_config):
    path = write(tmp_path / "d.csv", "id,text,label\n1,good film,pos\n2,bad film,neg\n")
    records, quarantined = load_records("d.csv", make_config("d.csv"))
    assert [(r.text, r.label) for r in records] == [("good film", "pos"), ("bad film", "neg")]
    assert [r.source for r in records] == [f"{path}:2", f"{path}:3"]
    assert quarantined == []


def test_load_csv_source_is_physical_line_after_multiline_cell(tmp_path, make_config):
    path = write(tmp_path / "d.csv", 'text,label\n"one\ntwo\nthree",a\n\nnext,b\n')
    records, _ = load_records("d.csv", make_config("d.csv"))
    assert records[0].text == "one\ntwo\nthree"
    # The quoted cell spans lines 2-4 and line 5 is blank, so the next row starts on line 6.
    assert [r.source for r in records] == [f"{path}:2", f"{path}:6"]


def test_load_csv_integral_float_labels_become_integer_strings(tmp_path, make_config):
    write(tmp_path / "d.csv", "text,label\na,1.0\nb,2\nc,2.5\n")
    records, _ = load_records("d.csv", make_config("d.csv"))
    assert [r.label for r in records] == ["1", "2", "2.5"]


def test_load_csv_missing_and_nan_labels_and_empty_text_are_quarantined(tmp_path, make_config):
    path = write(tmp_path / "d.csv", "text,label\nok,a\nno label,\nnan label,NaN\n  ,b\nNA,c\n")
    records, quarantined = load_records("d.csv", make_config("d.csv"))
    # "NA" as a text is a text; only label cells read NA markers as missing.
    assert [(r.text, r.label) for r in records] == [("ok", "a"), ("NA", "c")]
    assert [(q.source, q.reason) for q in quarantined] == [
        (f"{path}:3", "missing label"),
        (f"{path}:4", "missing label"),
        (f"{path}:5", "empty text"),
    ]


def test_load_csv_missing_column_suggests_closest_name(tmp_path, make_config):
    write(tmp_path / "d.csv", "review,sentiment\nfine,pos\n")
    config = make_config("d.csv", text_column="reviews")
    with pytest.raises(DataError) as error:
        load_records("d.csv", config)
    message = str(error.value)
    assert "data.text_column" in message
    assert "Did you mean 'review'?" in message
    assert "'review', 'sentiment'" in message


def test_load_csv_undecodable_bytes_name_file_and_line(tmp_path, make_config):
    path = tmp_path / "d.csv"
    path.write_bytes(b"text,label\nfine,a\ncaf\xe9,b\n")
    with pytest.raises(
        DataError,
        match=rf"{re.escape(str(path))}:3: undecodable bytes \(utf-8\) at byte 21.*data\.encoding",
    ):
        load_records("d.csv", make_config("d.csv"))


def test_load_csv_with_declared_encoding_and_bom(tmp_path, make_config):
    (tmp_path / "latin.csv").write_bytes("text,label\ncafé,a\n".encode("latin-1"))
    (tmp_path / "bom.csv").write_bytes("\ufefftext,label\nx,a\n".encode())
    latin, _ = load_records("latin.csv", make_config("latin.csv", encoding="latin-1"))
    bom, _ = load_records("bom.csv", make_config("bom.csv"))
    assert latin[0].text == "café"
    assert bom[0].text == "x"


def test_load_csv_row_with_extra_fields_is_quarantined(tmp_path, make_config):
    path = write(tmp_path / "d.csv", "text,label\nfine,a\nhello, world,b\n")
    records, quarantined = load_records("d.csv", make_config("d.csv"))
    assert len(records) == 1
    assert quarantined[0].source == f"{path}:3"
    assert quarantined[0].reason.startswith("malformed row: 3 fields where the header has 2")


def test_load_csv_saved_with_semicolons_is_read_by_them(tmp_path, make_config, capsys):
    """A spreadsheet saved with ";" (European Excel) has a header that does not split by ","."""
    write(tmp_path / "d.csv", "text;label\nhello, world;greet\nbye;part\n")
    records, quarantined = load_records("d.csv", make_config("d.csv"))
    assert [(r.text, r.label) for r in records] == [("hello, world", "greet"), ("bye", "part")]
    assert quarantined == []
    assert "splits into columns by ';', not ','" in " ".join(capsys.readouterr().err.split())


def test_load_csv_with_a_declared_delimiter(tmp_path, make_config):
    write(tmp_path / "d.csv", "text|label\nhello; world, all|greet\n")
    records, _ = load_records("d.csv", make_config("d.csv", delimiter="|"))
    assert (records[0].text, records[0].label) == ("hello; world, all", "greet")
    # A header that splits by the extension's delimiter is read by it, whatever else it holds.
    write(tmp_path / "e.csv", "text,label\nhello; world,greet\n")
    records, _ = load_records("e.csv", make_config("e.csv"))
    assert (records[0].text, records[0].label) == ("hello; world", "greet")


def test_load_tsv_reads_tab_separated_columns(tmp_path, make_config):
    write(tmp_path / "d.tsv", "text\tlabel\nhello, world\tgreet\n")
    records, _ = load_records("d.tsv", make_config("d.tsv"))
    assert (records[0].text, records[0].label) == ("hello, world", "greet")


def test_load_jsonl_reads_objects_with_line_sources(tmp_path, make_config):
    lines = [{"text": "a", "label": 1}, {"text": "b", "label": None}, {"text": "c"}]
    path = write(
        tmp_path / "d.jsonl",
        "\n".join(json.dumps(x) for x in lines[:1])
        + "\n\n"
        + "\n".join(json.dumps(x) for x in lines[1:])
        + "\n",
    )
    records, quarantined = load_records("d.jsonl", make_config("d.jsonl"))
    assert [(r.label, r.source) for r in records] == [("1", f"{path}:1")]
    assert [(q.source, q.reason) for q in quarantined] == [
        (f"{path}:3", "missing label"),
        (f"{path}:4", "missing label"),
    ]


def test_load_jsonl_bad_lines_are_quarantined_with_file_and_line(tmp_path, make_config):
    path = write(tmp_path / "d.jsonl", '{"text": "a", "label": "x"}\n{"text": "b",\n[1, 2]\n')
    records, quarantined = load_records("d.jsonl", make_config("d.jsonl"))
    assert [r.text for r in records] == ["a"]
    assert [(q.source, q.reason) for q in quarantined] == [
        (f"{path}:2", "malformed row: not valid JSON (Expecting property name enclosed in "
         "double quotes at column 14)"),
        (f"{path}:3", "malformed row: a JSON list, not an object"),
    ]  # fmt: skip


def test_load_jsonl_with_no_object_at_all_is_not_jsonl(tmp_path, make_config):
    path = write(tmp_path / "d.jsonl", "text,label\nhello,greet\n")
    with pytest.raises(DataError, match=rf"{re.escape(str(path))}: no line is a JSON object"):
        load_records("d.jsonl", make_config("d.jsonl"))


def test_load_jsonl_dotted_column_reaches_into_nested_objects(tmp_path, make_config):
    lines = [
        {"review": {"body": "great"}, "meta": {"stars": 5}},
        {"review": {"body": "awful"}, "meta": {"stars": 1}},
        {"review": "not an object", "meta": {"stars": 3}},
    ]
    path = write(tmp_path / "d.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n")
    config = make_config("d.jsonl", text_column="review.body", label_column="meta.stars")
    records, quarantined = load_records("d.jsonl", config)
    assert [(r.text, r.label) for r in records] == [("great", "5"), ("awful", "1")]
    assert [(q.source, q.reason) for q in quarantined] == [(f"{path}:3", "empty text")]
    with pytest.raises(
        DataError, match=r"no column 'review\.text'.*Available columns: .*'review\.body'"
    ):
        load_records("d.jsonl", make_config("d.jsonl", text_column="review.text"))


def test_load_jsonl_missing_field_everywhere_is_a_column_error(tmp_path, make_config):
    write(tmp_path / "d.jsonl", '{"text": "a", "labels": "x"}\n')
    with pytest.raises(
        DataError, match=r"no column 'label' \(data.label_column\)\. Did you mean 'labels'"
    ):
        load_records("d.jsonl", make_config("d.jsonl"))


def test_load_parquet_reads_rows_with_row_sources(tmp_path, make_config):
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"text": ["a", "b", None], "label": [3, None, 1]}), path)
    records, quarantined = load_records("d.parquet", make_config("d.parquet"))
    assert [(r.text, r.label, r.source) for r in records] == [("a", "3", f"{path}:row 0")]
    assert [(q.source, q.reason) for q in quarantined] == [
        (f"{path}:row 1", "missing label"),
        (f"{path}:row 2", "empty text"),
    ]


def test_load_multilabel_from_json_lists_separator_and_json_strings(tmp_path, make_config):
    write(
        tmp_path / "d.jsonl",
        '{"text": "a", "label": ["y", "x", "y"]}\n{"text": "b", "label": []}\n',
    )
    write(tmp_path / "d.csv", 'text,label\nc, b | a |  | a\nd,"[""z""]"\ne,w\n')
    from_json, empty = load_records("d.jsonl", make_config("d.jsonl", task="multilabel"))
    assert from_json[0].label == ("x", "y")
    assert empty[0].reason == "missing label"
    config = make_config("d.csv", task="multilabel", label_separator="|")
    split, _ = load_records("d.csv", config)
    assert [r.label for r in split] == [("a", "b"), ('["z"]',), ("w",)]
    as_json, _ = load_records("d.csv", make_config("d.csv", task="multilabel"))
    assert as_json[1].label == ("z",)


def test_load_regression_unparsable_value_is_quarantined_with_value(tmp_path, make_config):
    write(tmp_path / "d.csv", 'text,label\na,0.5\nb,high\nc,inf\nd,\ne,"3,5"\n')
    records, quarantined = load_records("d.csv", make_config("d.csv", task="regression"))
    assert [r.label for r in records] == [0.5]
    assert [q.reason for q in quarantined] == [
        "invalid label: 'high' is not a number",
        "invalid label: 'inf' is not a finite number",
        "missing label",
        "invalid label: '3,5' is not a number (a decimal comma? write 3.5)",
    ]


def test_load_classification_with_list_labels_suggests_multilabel(tmp_path, make_config):
    path = write(tmp_path / "d.jsonl", '{"text": "a", "label": ["x", "y"]}\n')
    with pytest.raises(DataError, match=rf"{re.escape(str(path))}:1: .*task.type: multilabel"):
        load_records("d.jsonl", make_config("d.jsonl"))


def test_load_ner_from_a_folder_says_which_files_hold_ner(tmp_path, make_config):
    write(tmp_path / "d" / "sports" / "a.txt", "Anna won")
    with pytest.raises(DataError, match=r"NER needs a CoNLL/BIO token file .* or a table"):
        load_records("d", make_config("d", task="ner"))


@pytest.mark.parametrize(
    ("name", "content", "pattern"),
    [
        ("empty.csv", "", r"empty\.csv is empty"),
        ("header.csv", "text,label\n", r"header\.csv \(data.source\) holds no examples"),
        ("blank.jsonl", "\n\n", r"blank\.jsonl \(data.source\) holds no examples"),
        ("data.docx", "x", r"cannot tell the format from the extension '\.docx'"),
    ],
)
def test_load_unusable_files_raise_with_file_name(tmp_path, make_config, name, content, pattern):
    write(tmp_path / name, content)
    with pytest.raises(DataError, match=pattern):
        load_records(name, make_config(name))


def test_load_missing_file_names_the_setting(make_config):
    config = make_config("train.csv", validation_source="nowhere.csv")
    with pytest.raises(DataError, match=r"data.validation_source 'nowhere.csv': .*does not exist"):
        load_records("nowhere.csv", config, role="validation")


def _workbook(path, sheets):
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def test_load_excel_reads_the_first_sheet_with_excel_row_numbers(tmp_path, make_config):
    path = _workbook(
        tmp_path / "d.xlsx",
        {
            "Tickets": [
                [None, None],  # a blank first row, as exported reports often have
                ["Ticket text", "Intent", "Agent"],
                ["Where is my parcel?", "delivery", "ann"],
                [None, None, None],
                ["Refund my order", "refund", None],
                ["", "refund", "bob"],
                [12345, 3.0, "cy"],  # numbers as Excel shows them
            ],
            "Other": [["text", "label"], ["not this sheet", "x"]],
        },
    )
    config = make_config("d.xlsx", text_column="Ticket text", label_column="Intent")
    records, quarantined = load_records("d.xlsx", config)
    assert [(r.text, r.label, r.source) for r in records] == [
        ("Where is my parcel?", "delivery", f"{path}:Tickets row 3"),
        ("Refund my order", "refund", f"{path}:Tickets row 5"),
        ("12345", "3", f"{path}:Tickets row 7"),
    ]
    assert [(q.source, q.reason) for q in quarantined] == [(f"{path}:Tickets row 6", "empty text")]
    other, _ = load_records("d.xlsx", make_config("d.xlsx", sheet="Other"))
    assert [(r.text, r.label) for r in other] == [("not this sheet", "x")]


def test_load_excel_names_what_is_wrong(tmp_path, make_config):
    _workbook(tmp_path / "d.xlsx", {"Sheet1": [["text", "label"], ["a", "b"]], "Empty": []})
    with pytest.raises(DataError, match=r"no sheet 'Data' \(data.sheet\)\. Sheets: 'Sheet1'"):
        load_records("d.xlsx", make_config("d.xlsx", sheet="Data"))
    with pytest.raises(DataError, match=r"sheet 'Empty' is empty"):
        load_records("d.xlsx", make_config("d.xlsx", sheet="Empty"))
    with pytest.raises(DataError, match=r"no column 'Label' .*Did you mean 'label'"):
        load_records("d.xlsx", make_config("d.xlsx", label_column="Label"))
    write(tmp_path / "broken.xlsx", "text,label\na,b\n")
    with pytest.raises(DataError, match=r"broken.xlsx: cannot be read as an Excel workbook"):
        load_records("broken.xlsx", make_config("broken.xlsx"))
    write(tmp_path / "old.xls", "binary")
    with pytest.raises(DataError, match=r"Excel 97-2003 \(.xls\) workbook.*Save it as .xlsx"):
        load_records("old.xls", make_config("old.xls"))


def test_load_ner_from_jsonl_token_and_tag_lists(tmp_path, make_config):
    rows = [
        {"tokens": ["Anna", "lives", "in", "Oslo"], "ner_tags": ["B-PER", "O", "O", "B-LOC"]},
        {"tokens": ["New", "York", "!"], "ner_tags": ["I-LOC", "I-LOC", "O"]},  # IOB1 start
        {"tokens": ["too", "few"], "ner_tags": ["O"]},
        {"tokens": ["bad", "tag"], "ner_tags": ["O", "PER"]},
        {"tokens": [], "ner_tags": []},
        {"tokens": ["no", "tags"]},
        {"tokens": ["Oslo", " ", "rain"], "ner_tags": ["B-LOC", "O", "O"]},  # a blank token
    ]
    path = write(tmp_path / "d.jsonl", "".join(json.dumps(row) + "\n" for row in rows))
    config = make_config("d.jsonl", task="ner", text_column="tokens", label_column="ner_tags")
    records, quarantined = load_records("d.jsonl", config)
    assert [(r.text, r.label, r.tokens) for r in records] == [
        ("Anna lives in Oslo", ("B-PER", "O", "O", "B-LOC"), ("Anna", "lives", "in", "Oslo")),
        ("New York !", ("B-LOC", "I-LOC", "O"), ("New", "York", "!")),
        ("Oslo rain", ("B-LOC", "O"), ("Oslo", "rain")),
    ]
    assert [(q.source, q.reason) for q in quarantined] == [
        (f"{path}:3", "invalid label: 1 tags for 2 tokens"),
        (f"{path}:4", "invalid label: 'PER' is not an IOB2 tag (O, B-TYPE, I-TYPE)"),
        (f"{path}:5", "empty text"),
        (f"{path}:6", "missing label"),
    ]


def test_load_ner_tag_ids_are_named_by_data_labels(tmp_path, make_config):
    rows = [{"tokens": ["Anna", "sings"], "ner_tags": [1, 0]}, {"tokens": ["x"], "ner_tags": [7]}]
    path = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    section = {"task": "ner", "text_column": "tokens", "label_column": "ner_tags"}
    config = make_config("d.parquet", **section, labels=["O", "B-PER", "I-PER"])
    records, quarantined = load_records("d.parquet", config)
    assert [(r.text, r.label) for r in records] == [("Anna sings", ("B-PER", "O"))]
    assert [(q.source, q.reason) for q in quarantined] == [
        (f"{path}:row 1", "invalid label: 7 is not a tag id below 3"),
    ]
    with pytest.raises(DataError, match=r"the tags are numbers \(1\); list the tag names"):
        load_records("d.parquet", make_config("d.parquet", **section))


def test_load_ner_from_csv_cells_holding_lists(tmp_path, make_config):
    # JSON, Python's repr (pandas' to_csv of a list column), words separated by spaces, ids.
    lines = [
        "tokens,tags",
        '"[""Anna"", ""lives"", ""in"", ""Oslo""]","[""B-PER"", ""O"", ""O"", ""B-LOC""]"',
        "\"['New', 'York', '!']\",\"['I-LOC', 'I-LOC', 'O']\"",
        "Anna sings loudly,B-PER O O",
        "[Applause] Anna,O B-PER",  # a sentence that starts with "[" stays a sentence
        "too few,O",
        "no tags,",
    ]
    path = write(tmp_path / "d.csv", "\n".join(lines) + "\n")
    config = make_config("d.csv", task="ner", text_column="tokens", label_column="tags")
    records, quarantined = load_records("d.csv", config)
    assert [(r.label, r.tokens) for r in records] == [
        (("B-PER", "O", "O", "B-LOC"), ("Anna", "lives", "in", "Oslo")),
        (("B-LOC", "I-LOC", "O"), ("New", "York", "!")),
        (("B-PER", "O", "O"), ("Anna", "sings", "loudly")),
        (("O", "B-PER"), ("[Applause]", "Anna")),
    ]
    assert [(q.source, q.reason) for q in quarantined] == [
        (f"{path}:6", "invalid label: 1 tags for 2 tokens"),
        (f"{path}:7", "missing label"),
    ]
    write(tmp_path / "ids.csv", 'tokens,tags\nAnna sings,"[1, 0]"\nOslo rain,2 0\n')
    config = make_config(
        "ids.csv",
        task="ner",
        text_column="tokens",
        label_column="tags",
        labels=["O", "B-PER", "B-LOC"],
    )
    records, _ = load_records("ids.csv", config)
    assert [r.label for r in records] == [("B-PER", "O"), ("B-LOC", "O")]


def test_load_a_column_named_twice_is_refused(tmp_path, make_config):
    path = write(tmp_path / "d.csv", "text,label,text\nhello,a,world\n")
    with pytest.raises(
        DataError, match=rf"{re.escape(str(path))}: the header names 'text' 2 times"
    ):
        load_records("d.csv", make_config("d.csv"))


def test_load_jsonl_text_that_is_not_a_text_is_quarantined(tmp_path, make_config):
    lines = [
        {"text": 12345, "label": "a"},
        {"text": ["x"], "label": "a"},
        {"text": {}, "label": "a"},
    ]
    path = write(tmp_path / "d.jsonl", "".join(json.dumps(x) + "\n" for x in lines))
    records, quarantined = load_records("d.jsonl", make_config("d.jsonl"))
    assert [r.text for r in records] == ["12345"]  # a number is written as text
    assert [(q.source, q.reason) for q in quarantined] == [
        (f"{path}:2", "invalid text: 'text' holds a list, not a text"),
        (f"{path}:3", "invalid text: 'text' holds a dict, not a text"),
    ]


def test_load_ner_one_token_per_row_grouped_by_sentence_column(tmp_path, make_config):
    # The layout of the widely shared ner_dataset.csv: the sentence named on its first row only.
    lines = [
        "Sentence #,Word,POS,Tag",
        "Sentence: 1,Anna,NNP,B-per",  # lower-case types, as that file writes them
        ",lives,VBZ,O",
        ",in,IN,O",
        ",Oslo,NNP,B-geo",
        "Sentence: 2,New,NNP,I-geo",  # an IOB1 start, repaired
        ",York,NNP,I-geo",
        "Sentence: 3,Bad,JJ,PER",
        ",tag,NN,O",
        "Sentence: 4,Broken,NN,O,extra,cells",
        ",row,NN,O",
        "Sentence: 5,No,DT,O",
        ",tag,NN,",
    ]
    path = write(tmp_path / "ner.csv", "\n".join(lines) + "\n")
    section = {"text_column": "Word", "label_column": "Tag", "sentence_column": "Sentence #"}
    records, quarantined = load_records("ner.csv", make_config("ner.csv", task="ner", **section))
    assert [(r.source, r.label, r.tokens) for r in records] == [
        (f"{path}:2", ("B-per", "O", "O", "B-geo"), ("Anna", "lives", "in", "Oslo")),
        (f"{path}:6", ("B-geo", "I-geo"), ("New", "York")),
    ]
    assert [(q.source, q.reason) for q in quarantined] == [
        (f"{path}:8", "invalid label: 'PER' is not an IOB2 tag (O, B-TYPE, I-TYPE)"),
        (
            f"{path}:10",
            "malformed row: 6 fields where the header has 4 (an unquoted delimiter inside the "
            "text?) (in sentence 'Sentence: 4' at "
            f"{path}:10; the sentence would miss a token)",
        ),
        (f"{path}:12", "missing label"),
    ]

    # The same table as a workbook and as Parquet, every row naming its sentence (ids repeat
    # on consecutive rows); rows before the first sentence id are quarantined, not guessed.
    rows = [(None, "stray", "O"), (7, "Anna", "B-per"), (7, "sings", "O"), (8, "Oslo", "B-geo")]
    workbook = openpyxl.Workbook()
    workbook.active.append(["sentence_id", "Word", "Tag"])
    for row in rows:
        workbook.active.append(list(row))
    workbook.save(tmp_path / "ner.xlsx")
    section = {"text_column": "Word", "label_column": "Tag", "sentence_column": "sentence_id"}
    records, quarantined = load_records("ner.xlsx", make_config("ner.xlsx", task="ner", **section))
    assert [r.tokens for r in records] == [("Anna", "sings"), ("Oslo",)]
    assert [q.reason for q in quarantined] == [
        "no sentence: sentence_id is blank on this row and on every row above it"
    ]
    table = pa.Table.from_pylist(
        [dict(zip(["sentence_id", "Word", "Tag"], r, strict=True)) for r in rows]
    )
    pq.write_table(table, tmp_path / "ner.parquet")
    config = make_config("ner.parquet", task="ner", **section)
    assert [r.tokens for r in load_records("ner.parquet", config)[0]] == [
        ("Anna", "sings"),
        ("Oslo",),
    ]


def test_load_sentence_column_is_for_ner_only(make_config):
    with pytest.raises(ConfigError, match=r"data.sentence_column groups one-token rows"):
        make_config("d.csv", sentence_column="Sentence #")
