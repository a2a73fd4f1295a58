"""`npusim trace` as a user runs it (subprocess): list, show, import, and every class of bad input."""

import json
from pathlib import Path

import pytest

from workloads import build, get_trace, trace_to_csv

CONV_HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"


def _one_line_error(r, expect):
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert expect in lines[0], lines[0]


def test_trace_list(cli):
    r = cli("trace", "list")
    assert r.returncode == 0, r.stderr
    for name in ("resnet50", "bert_base", "yolo_lite", "m3vit", "coe_experts"):
        assert name in r.stdout
    r = cli("trace", "list", "--json")
    rows = json.loads(r.stdout)
    assert len(rows) == 18 and rows[0]["name"] == "resnet50" and rows[0]["layers"] == 72


def test_trace_show(cli, tmp_path):
    r = cli("trace", "show", "resnet50")
    assert r.returncode == 0, r.stderr
    assert "layer4.2.conv3" in r.stdout and "resnet50: 72 layers, 4.09 GMACs" in r.stdout
    # the shapes a MAC count needs, and bytes in binary units (SoC sizes refuse the ambiguous kB)
    topo = tmp_path / "tiny.csv"
    topo.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
                    "Strides,\nconv1, 32, 32, 3, 3, 3, 16, 1,\nconv2, 30, 30, 3, 3, 16, 32, 2,\n")
    lines = cli("trace", "show", str(topo)).stdout.splitlines()
    header = lines[0].split()
    assert header[:14] == ["name", "op", "batch", "in_c", "in_h", "in_w", "out_c", "out_h", "out_w", "kernel_h",
                           "kernel_w", "stride", "padding", "groups"]
    conv2 = lines[2].split()  # M, N, K are blank for a conv
    assert conv2[:14] == ["conv2", "conv", "1", "16", "30", "30", "32", "15", "15", "3", "3", "2", "0", "1"]
    assert int(conv2[14]) == 15 * 15 * 32 * 16 * 3 * 3
    assert lines[-1] == "tiny: 2 layers, 1.43 MMACs, 5.04 k params, weights 4.92 KiB, activations 21.09 KiB"
    r = cli("trace", "show", "resnet50", "--json")
    data = json.loads(r.stdout)
    for key in ("name", "layers", "macs", "params", "weight_bytes", "activation_bytes"):
        assert key in data
    t = build("resnet50")
    assert (data["name"], data["layers"], data["macs"], data["params"]) == ("resnet50", 72, t.macs, t.params)
    assert data["layer_table"][0]["name"] == "conv1" and data["layer_table"][0]["M"] is None
    assert len(data["layer_table"]) == 72


def test_trace_show_parameters_and_tasks(cli):
    data = json.loads(cli("trace", "show", "bert_base", "--seq-len", "128", "--batch", "2", "--json").stdout)
    assert data["macs"] == build("bert_base", seq_len=128, batch=2).macs
    data = json.loads(cli("trace", "show", "m3vit", "--task", "depth", "--json").stdout)
    assert data["name"] == "m3vit[depth]" and data["macs"] == build("m3vit").for_task("depth").macs


def test_trace_show_file(cli, tmp_path):
    p = tmp_path / "kws.csv"
    p.write_text(trace_to_csv(build("kws")))
    r = cli("trace", "show", str(p), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["macs"] == build("kws").macs
    topo = tmp_path / "topo.txt"
    topo.write_text("Layer, M, N, K,\nfc1, 64, 32, 16,\n")
    r = cli("trace", "show", str(topo), "--format", "scalesim-gemm")
    assert r.returncode == 0 and "fc1" in r.stdout


def test_trace_import_onnx_with_unknown_operator(cli, tmp_path):
    from test_workloads_import import _cnn

    src = _cnn(tmp_path, with_unknown=True)
    out = tmp_path / "out" / "net.csv"
    r = cli("trace", "import", str(src), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "10 layers" in r.stdout and r.stdout.rstrip().endswith(f"-> {out} (1 unsupported operator skipped)")
    warn_lines = r.stderr.strip().splitlines()
    assert any("TopK" in l and "topk" in l for l in warn_lines)
    assert warn_lines[-1] == "warning: 1 unsupported operator skipped (TopK); the trace omits them"
    t = get_trace(str(out))
    assert t.layer("fc").N == 10 and t.layer("pool").inputs == ("dw", "grouped")


def test_trace_import_scalesim(cli, tmp_path):
    src = tmp_path / "topo.csv"
    src.write_text(CONV_HEADER + "conv1, 56, 56, 3, 3, 64, 64, 1,\nDP2, 54, 54, 3, 3, 64, 1, 2\n")
    out = tmp_path / "t.csv"
    r = cli("trace", "import", str(src), "--out", str(out))
    assert r.returncode == 0 and r.stderr == ""
    t = get_trace(str(out))
    assert [l.op for l in t.layers] == ["conv", "dwconv"]
    assert t.layer("DP2").out_h == 27  # SCALE-Sim: ceil((54 - 3 + 2) / 2); floor would give 26
    # the format can be forced, but conv rows are not read as GEMMs (SCALE-Sim would take 56, 56, 3 as M, N, K)
    _one_line_error(cli("trace", "import", str(src), "--out", str(out), "--format", "scalesim-gemm"),
                    f"error: {src}:2: form: this row has a conv layer's 7 numbers after the layer name")
    gemm = tmp_path / "g.csv"
    gemm.write_text("Layer, M, N, K,\nfc, 56, 56, 3,\n")
    r = cli("trace", "import", str(gemm), "--out", str(out), "--format", "scalesim-gemm")
    assert r.returncode == 0 and get_trace(str(out)).layer("fc").gemm_dims() == (56, 56, 3, 1)
    _one_line_error(cli("trace", "import", str(src), "--out", str(out), "--format", "onnx"),
                    f"error: {src}: file: not a readable ONNX model")


BAD_TRACES = [
    ("name,in_c\nl1,3\n", "bad.csv:1: op: required column is missing from the header"),
    # a row cut short would take stride 1 and padding 0 for the cells it lost
    ("name,op,in_c,in_h,in_w,out_c,kernel_h,kernel_w,stride,padding\nc1,conv,3,32,32,8,3,3,2,1\nc2,conv,8,16,16,8,3,3\n",
     "bad.csv:3: row: 8 fields but the header has 10 (a cell left empty takes its default; a missing one is an error)"),
    # a cell the op does not read is no value to drop without a word
    ("name,op,in_c,in_h,in_w,out_c,kernel_h,kernel_w,M\nc,conv,8,8,8,8,3,3,5\n",
     "bad.csv:2: M: not used by op conv: leave it empty (got 5)"),
    ("name,op,M,N,K,out_c,stride\nfc,gemm,1,10,64,,2\n", "bad.csv:2: stride: not used by op gemm: leave it empty (got 2)"),
    ("name,op,in_c,in_h,in_w,kernel_h\ne,eltwise,8,8,8,5\n",
     "bad.csv:2: kernel_h: not used by op eltwise: leave it empty (got 5)"),
    ("name,op,in_c,in_h,in_w,out_c\ne,eltwise,8,8,8,99\n",
     "bad.csv:2: out_c: 99 contradicts the op's other columns (eltwise 'e' has out_c 8)"),
    ("name,op,in_c,in_h,in_w,out_c,kernel_h\nl1,conv,3,8,8,4,3\n", "bad.csv:2: kernel_w: required for op conv"),
    ("name,op,in_c,in_h,in_w,out_c,kernel_h,kernel_w\nl1,conv,3,8,8,-4,3,3\n",
     "bad.csv:2: out_c: must not be negative, got -4"),
    ("name,op,in_c,in_h,in_w,out_c,kernel_h,kernel_w\nl1,conv,3,8,8,4.5,3,3\n",
     "bad.csv:2: out_c: expected an integer, got '4.5'"),
    ("name,op,in_c,in_h,in_w,out_c,kernel_h,kernel_w\nl1,conv,3,8,8,four,3,3\n",
     "bad.csv:2: out_c: expected an integer, got 'four'"),
    ("name,op,in_c,in_h,in_w,out_c,kernel_h,kernel_w\nl1,conv,3,2,2,4,5,5\n",
     "bad.csv:2: kernel_h: kernel 5 is larger than the padded input height 2"),
    ("name,op,in_c,in_h,in_w,out_c,kernel_h,kernel_w\n\nl1,warp,3,8,8,4,3,3\n", "bad.csv:3: op: unknown op 'warp'"),
    ("name,op,M,N,K,inputs\nfc,gemm,1,2,3,\nfc2,gemm,1,2,3,nope\n",
     "bad.csv:3: inputs: no earlier layer named 'nope'"),
    ("name,op,M,N,K,inputs\nfc,gemm,1,2,3,fc2\nfc2,gemm,1,2,3,\n", "bad.csv:2: inputs: no earlier layer named 'fc2'"),
    # a lone ';' is no spelling of the network input ('-' is), and no name is left out
    ("name,op,M,N,K,inputs\nfc,gemm,1,2,3,-\nfc2,gemm,1,2,3,;\n",
     "bad.csv:3: inputs: empty name in ';' (names are separated by ';')"),
    ("name,op,M,N,K,task\nfc,gemm,1,2,3,a;a\n", "bad.csv:2: task: task 'a' given twice"),
    ("name,op,M,N,K\nfc,gemm,1,2,3\nfc,gemm,1,2,3\n", "bad.csv:3: name: duplicate layer name 'fc'"),
    # a name is one table cell on one line (the ONNX importer writes these as '_')
    ("name,op,M,N,K\nf\x00c,gemm,1,2,3\n", "bad.csv:2: name: layer name holds a control character or line break: 'f\\x00c'"),
    ('name,op,M,N,K\n"f\nc",gemm,1,2,3\n', "bad.csv:2: name: layer name holds a control character or line break: 'f\\nc'"),
    # only \r and \n end a CSV line: a form feed, U+0085 or U+2028 is a character in it (lines are not moved)
    ("# page\x0cbreak\nname,op,M,N,K\nfc,gemm,1,2,0\n", "bad.csv:3: K: must be at least 1, got 0"),
    ("name,op,M,N,K\nf\x85c,gemm,1,2,3\n", "bad.csv:2: name: layer name holds a control character or line break: 'f\\x85c'"),
    ('name,op,M,N,K\n"f\u2028c",gemm,1,2,3\n',
     "bad.csv:2: name: layer name holds a control character or line break: 'f\\u2028c'"),
    # a name an `inputs` cell cannot spell: '-' reads as the network input, ';' splits it, so the
    # next row's empty cell (this layer) would be written '-' or 'a;x' and read back otherwise
    ("name,op,M,N,K,inputs\n-,gemm,4,16,16,-\nb,gemm,4,16,16,\n",
     "bad.csv:2: name: layer name '-' is how inputs names the network input: rename the layer"),
    ("name,op,M,N,K,inputs\na;x,gemm,4,16,16,-\nb,gemm,4,16,16,\n",
     "bad.csv:2: name: layer name 'a;x' holds ';', which separates the names in inputs"),
    ("name,op,M,N,K,colour\nfc,gemm,1,2,3,red\n", "bad.csv:1: colour: unknown column"),
    (",name,op,M,N,K\n0,fc,gemm,1,2,3\n", "bad.csv:1: header: column 1 has no name"),
    # the first repeat in header order, worded as every CSV reader of npusim words it
    ("name,op,N,M,N,K,M\nfc,gemm,2,1,2,3,1\n", "bad.csv:1: N: column given twice in the header"),
    ("name,op,in_c,in_h,in_w,out_c,kernel_h,kernel_w,groups\nl1,conv,6,8,8,4,3,3,4\n",
     "bad.csv:2: groups: in_c 6 is not divisible by groups 4"),
    ("name,op,M,N,K\nfc,gemm,1,1000000000000000000000000000000,3\n", "bad.csv:2: N: must be at most 2147483647"),
    ("name,op,M,N,K\nfc,gemm,1,1_0,3\n", "bad.csv:2: N: expected an integer, got '1_0'"),
    # only plain ASCII decimals: no exponent, no full-width or Arabic-Indic digits
    ("name,op,M,N,K\nfc,gemm,1,1e30,3\n", "bad.csv:2: N: expected an integer, got '1e30'"),
    ("name,op,M,N,K\nfc,gemm,1,3e0,3\n", "bad.csv:2: N: expected an integer, got '3e0'"),
    ("name,op,batch,M,N,K\nfc,matmul,\uff11,1,2,3\n", "bad.csv:2: batch: expected an integer, got '\uff11'"),
    ("name,op,M,N,K\nfc,gemm,1,\u0668,3\n", "bad.csv:2: N: expected an integer, got '\u0668'"),
    ("name,op,M,N,K\nfc,gemm,1,8.\uff10,3\n", "bad.csv:2: N: expected an integer, got '8.\uff10'"),
    ("name,op,M,N,K,in_elem_bytes\nfc,gemm,1,2,3,100000000000\n", "bad.csv:2: in_elem_bytes: must be at most 16"),
    ("name,op,M,N,K\nfc,gemm,2000000000,2000000000,2000000000\n",
     "bad.csv:2: layer: fc: 8e+27 operations or elements is more than a layer may have"),
]


@pytest.mark.parametrize("text, expect", BAD_TRACES)
def test_bad_trace_files(cli, tmp_path, text, expect):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    _one_line_error(cli("trace", "show", str(p)), f"error: {tmp_path}/{expect}")


def test_bad_scalesim_and_onnx_files(cli, tmp_path):
    p = tmp_path / "topo.csv"
    p.write_text(CONV_HEADER + "conv1, 4, 4, 7, 7, 3, 64, 1,\n")
    _one_line_error(cli("trace", "import", str(p), "--out", str(tmp_path / "o.csv")),
                    f"error: {p}:2: Filter Height: filter height 7 is larger than the input height 4")
    p.write_text(CONV_HEADER + "conv1, 5600000000000000000000, 4, 1, 1, 3, 64, 1,\n")
    _one_line_error(cli("trace", "show", str(p)), f"error: {p}:2: IFMAP Height: must be at most 2147483647")
    p.write_text(CONV_HEADER.replace(",\n", ",\x0c\n") + "conv1, 4, 4, 7, 7, 3, 64, 1,\n")  # a form feed ends no line
    _one_line_error(cli("trace", "show", str(p)), f"error: {p}:2: Filter Height: filter height 7 is larger")
    binary_csv = tmp_path / "binary.csv"
    binary_csv.write_bytes(b"\xff\xfe\x00name,op")
    _one_line_error(cli("trace", "show", str(binary_csv)), f"error: {binary_csv}:1: file: not UTF-8 text")
    # a Latin-1 byte is named at its line, whichever reader finds it
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(b"name,op,M,N,K\nfc,gemm,1,2,3\ncaf\xe9,gemm,1,2,3\n")
    _one_line_error(cli("trace", "show", str(latin1)), f"error: {latin1}:3: file: not UTF-8 text")
    _one_line_error(cli("trace", "show", str(latin1), "--format", "trace"), f"error: {latin1}:3: file: cannot read")
    latin1.write_bytes(CONV_HEADER.encode() + b"\ncaf\xe9, 4, 4, 3, 3, 3, 64, 1,\n")
    _one_line_error(cli("trace", "show", str(latin1), "--format", "scalesim"), f"error: {latin1}:3: file: cannot read")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00\x01\x02garbage")
    _one_line_error(cli("trace", "show", str(junk)), f"error: {junk}: file: not a readable ONNX model")


@pytest.mark.parametrize("args, expect", [
    (["trace", "show", "resnet51"], "error: resnet51: workload: unknown workload 'resnet51' (models: resnet50,"),
    (["trace", "show", "missing.csv"], "error: missing.csv: file: no such file"),
    (["trace", "show", "resnet50", "--seq-len", "10"], "error: <command line>: --seq-len: resnet50 has no parameter 'seq_len'"),
    (["trace", "show", "resnet50", "--batch", "0"], "error: <command line>: --batch: must be at least 1, got 0"),
    (["trace", "show", "resnet50", "--batch", "two"], "error: <command line>: argument --batch: expected an integer, got 'two'"),
    (["trace", "show", "m3vit", "--task", "saliency"], "error: <command line>: --task: m3vit has no task 'saliency'"),
    (["trace", "import", "x.onnx"], "error: <command line>: the following arguments are required: --out"),
    (["trace", "show", "kws", "--batch", "100000000000"], "error: <command line>: --batch: must be at most 2147483647"),
    (["trace", "show", "kws", "--batch", "2147483647"],  # a layer the flag makes impossible: the flag's fault
     "error: <command line>: --batch: layer conv_1: 2.4e+16 operations or elements is more than a layer may have"),
    (["trace", "show", "kws", "--format", "onnx"], "error: <command line>: --format: kws is a zoo model"),
    (["trace", "show", "missing.csv", "--batch", "2"], "error: <command line>: --batch: applies to zoo models only"),
])
def test_bad_command_lines(cli, args, expect):
    _one_line_error(cli(*args), expect)


def test_trace_export(cli, tmp_path):
    out, layout = tmp_path / "sub" / "r50.csv", tmp_path / "r50_layout.csv"
    r = cli("trace", "export", "resnet50", "--out", str(out), "--layout", str(layout))
    assert r.returncode == 0, r.stderr
    assert "54 SCALE-Sim rows from 54 array layers" in r.stdout and "18 vector layers left out" in r.stdout
    assert out.read_text().splitlines()[1] == "conv1, 229, 229, 7, 7, 3, 64, 2,"
    assert len(layout.read_text().splitlines()) == 55
    # the stored whole-network SCALE-Sim references are exactly these exports
    refs = Path(__file__).parent / "reference" / "scalesim"
    assert out.read_text() == (refs / "topologies" / "resnet50.csv").read_text()
    assert layout.read_text() == (refs / "layouts" / "resnet50.csv").read_text()
    mb, mb_layout = tmp_path / "mb.csv", tmp_path / "mb_layout.csv"
    assert cli("trace", "export", "mobilenet_v2", "--out", str(mb), "--layout", str(mb_layout)).returncode == 0
    assert mb.read_text() == (refs / "topologies" / "mobilenet_v2.csv").read_text()
    assert mb_layout.read_text() == (refs / "layouts" / "mobilenet_v2.csv").read_text()


def test_trace_export_writes_to_a_pipe_instead_of_replacing_it(cli, tmp_path):
    import os
    import stat
    import threading

    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    r = cli("trace", "export", "kws", "--out", str(fifo))
    reader.join(timeout=60)
    assert r.returncode == 0, r.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # still the pipe (as /dev/null stays a device)
    assert got and got[0].startswith("Layer name, IFMAP Height") and len(got[0].splitlines()) == 26
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe.csv"]  # nothing staged beside it


def test_trace_export_bad_input(cli, tmp_path):
    _one_line_error(cli("trace", "export", "nosuch", "--out", str(tmp_path / "x.csv")), "unknown workload")
    blocker = tmp_path / "file"
    blocker.write_text("")
    _one_line_error(cli("trace", "export", "resnet50", "--out", str(blocker / "x.csv")), "--out: cannot write")
    _one_line_error(cli("trace", "export", "resnet50", "--out", str(tmp_path / "x.csv"), "--layout",
                        str(blocker / "l.csv")), "--layout: cannot write")
    assert not (tmp_path / "x.csv").exists()  # no topology left without its layout
    kept = tmp_path / "kept.csv"
    kept.write_text("precious\n")
    _one_line_error(cli("trace", "export", "resnet50", "--out", str(kept), "--layout", str(blocker / "l.csv")),
                    "--layout: cannot write")
    assert kept.read_text() == "precious\n"  # a failed export leaves an existing file as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "kept.csv"]  # and no staging files
    _one_line_error(cli("trace", "export", "resnet50", "--out", str(kept), "--layout", str(kept)),
                    "--layout: is the same file as --out")
    assert kept.read_text() == "precious\n"
    _one_line_error(cli("trace", "export", "resnet50", "--out", str(tmp_path), "--layout",
                        str(tmp_path / "l.csv")), "--out: SCALE-Sim reads CSV")  # --out is a folder
    vec = tmp_path / "vec.csv"
    vec.write_text("name,op,in_c,in_h,in_w,kernel_h,kernel_w,stride\np,pool,8,4,4,2,2,2\n")
    _one_line_error(cli("trace", "export", str(vec), "--out", str(tmp_path / "y.csv")), "no layer runs on the "
                                                                                       "systolic array")
    _one_line_error(cli("trace", "export", "resnet50", "--task", "x", "--out", str(tmp_path / "z.csv")),
                    "has no task")


def test_trace_import_and_map_never_overwrite_their_input(cli, tmp_path):
    topo = tmp_path / "t.csv"
    text = CONV_HEADER + "conv1, 56, 56, 3, 3, 64, 64, 1,\n"
    topo.write_text(text)
    _one_line_error(cli("trace", "import", str(topo), "--out", str(topo)),
                    f"error: <command line>: --out: {topo} is an input of this command")
    assert topo.read_text() == text
    _one_line_error(cli("trace", "import", str(topo), "--out", str(tmp_path / "t.parquet")),
                    "error: <command line>: --out: a trace is written as CSV")
    assert not (tmp_path / "t.parquet").exists()
    trace = tmp_path / "net.csv"
    assert cli("trace", "import", str(topo), "--out", str(trace)).returncode == 0
    before = trace.read_text()
    _one_line_error(cli("map", "--workload", str(trace), "--cores", "1", "--budgets", "0", "--out", str(trace)),
                    f"error: <command line>: --out: {trace} is an input of this command")
    _one_line_error(cli("trace", "export", str(trace), "--out", str(trace)),
                    f"error: <command line>: --out: {trace} is an input of this command")
    assert trace.read_text() == before


def test_trace_show_spells_small_totals(cli, tmp_path):
    t = tmp_path / "t.csv"
    t.write_text("name,op,M,N,K\nfc,gemm,2,3,4\n")
    r = cli("trace", "show", str(t))
    assert r.returncode == 0 and "t: 1 layers, 24 MACs, 12 params" in r.stdout, r.stdout


def test_an_empty_trace_file_says_so(cli, tmp_path):
    """An empty or blank CSV used to be reported as a header of unknown format."""
    for text in ("", "\n\n", "# a comment only\n"):
        path = tmp_path / "t.csv"
        path.write_text(text)
        _one_line_error(cli("trace", "show", str(path)), f"error: {path}:1: header: empty file: no header line")
        _one_line_error(cli("run", "--mix", f"kws,{path}", "--quiet"), f"error: {path}:1: header: empty file")


def test_trace_export_writes_to_a_device(cli):
    """Output names must end in .csv (SCALE-Sim reads CSV) except a device, which is written to."""
    r = cli("trace", "export", "kws", "--out", "/dev/null", "--layout", "/dev/null")
    assert r.returncode == 2 and "--layout: is the same file as --out" in r.stderr  # one device, two outputs
    r = cli("trace", "export", "kws", "--out", "/dev/null")
    assert r.returncode == 0, r.stderr


def _with_file_size_limit(limit: int, *args: str):
    """The CLI run with writes past `limit` bytes failing (EFBIG), as on a full disk."""
    import resource
    import subprocess
    import sys

    def limit_writes():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    return subprocess.run([sys.executable, "-m", "npusim", *args], capture_output=True, text=True,
                          preexec_fn=limit_writes, timeout=600)


def test_trace_import_that_fails_to_write_leaves_no_half_file(cli, tmp_path):
    src = tmp_path / "r50.csv"
    src.write_text(trace_to_csv(build("resnet50")))
    out = tmp_path / "out.csv"
    _one_line_error(_with_file_size_limit(2048, "trace", "import", str(src), "--out", str(out)),
                    f"--out: cannot write {str(out)!r}: File too large")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r50.csv"]  # no cut-off trace, no staging file
    out.write_text("precious\n")
    _one_line_error(_with_file_size_limit(2048, "trace", "import", str(src), "--out", str(out)), "--out: cannot write")
    assert out.read_text() == "precious\n"  # an existing file stays as it was
    assert cli("trace", "import", str(src), "--out", str(out)).returncode == 0
    assert out.read_text() == src.read_text()


def test_trace_export_writes_through_a_link_to_its_target(cli, tmp_path):
    target = tmp_path / "real.csv"
    target.write_text("old\n")
    link = tmp_path / "topo.csv"
    link.symlink_to(target)
    r = cli("trace", "export", "kws", "--out", str(link))
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and target.read_text().startswith("Layer name")
