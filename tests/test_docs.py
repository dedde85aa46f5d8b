#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_docs.py - the manual may not drift from the code and the tests.

Usage: test_docs.py SOURCE_ROOT CERTWATCH_BINARY

Checks:
- each server snippet in docs/running.md marked `<!-- lab-template: NAME -->`
  is what the lab's template tests/lab/templates/NAME (filled the way
  tests/lab/lab.py fills it) holds, modulo the template's placeholders;
- every key component/config.c accepts is in docs/running.md's reference
  tables, in certwatch.conf(5) and in contrib/certwatch.conf.example, with the
  default of config_defaults(); and nothing else is documented as a key;
- the keys certwatch(8) says SIGHUP reloads are those main.c's
  daemon_reload() copies;
- every ```ini block of README.md and docs/*.md is accepted by
  `certwatch run -n` (a secret filled in);
- every reply quoted in docs/usage.md under `<!-- from-code: FILES -->` is
  text of those source files (`<...>` stands for a printf conversion);
- every option of `certwatch --help` is in certwatch(8);
- every relative link of README.md and docs/*.md names an existing file;
- docs/running.md's blocks marked `<!-- test_docs: NAME -->` work as
  written: the DESTDIR install, the unbound_conf fragment (`run -n`
  accepts it, and refuses it without its `server:` line), and running by
  hand as an unprivileged user (in a scratch directory, as `nobody`).
"""
import codecs
import glob
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(sys.argv[1])
CERTWATCH = os.path.abspath(sys.argv[2])
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))

failures = []
passed = 0


def check(ok, what):
    global passed
    if ok:
        passed += 1
    else:
        failures.append(what)
        print("FAIL:", what)


def read(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        return f.read()


def fenced_after(text, marker_re):
    """(marker match, block lines) for each marker followed by a fence."""
    out = []
    for m in re.finditer(marker_re, text):
        rest = text[m.end():]
        f = re.match(r"\s*```[a-z]*\n(.*?)\n```", rest, re.S)
        if f is None:
            check(False, "marker %r is not followed by a code block" % m.group(0))
            continue
        out.append((m, f.group(1).split("\n")))
    return out


# ---- lab templates -----------------------------------------------------------

def template_text(name):
    """The template as the lab fills it, with placeholders still in."""
    text = read(os.path.join("tests", "lab", "templates", name))
    if name == "prosody.cfg.lua":
        # $hosts is filled by lab.py's prosody_hosts(); use the real function
        # with placeholders for its arguments.
        import lab
        hosts = lab.prosody_hosts(["$vhost"], component="$component",
                                  secret="$secret")
        text = text.replace("$hosts", hosts)
    return text


def line_regex(tline):
    out, i = "", 0
    for m in re.finditer(r"\$(\w+|\{\w+\})", tline):
        out += re.escape(tline[i:m.start()]) + ".+"
        i = m.end()
    return re.compile(out + re.escape(tline[i:]) + r"\Z")


COMMENT = {"prosody.cfg.lua": "--", "ejabberd.yml": "#"}


def check_snippet(name, lines):
    """Runs of lines (split at blank and comment lines) must appear, in
    order, as consecutive lines of the template."""
    tlines = [line_regex(t.rstrip()) for t in template_text(name).split("\n")]
    runs, cur = [], []
    for ln in lines:
        if not ln.strip() or ln.strip().startswith(COMMENT[name]):
            if cur:
                runs.append(cur)
            cur = []
        else:
            cur.append(ln.rstrip())
    if cur:
        runs.append(cur)
    pos = 0
    for run in runs:
        found = None
        for start in range(pos, len(tlines) - len(run) + 1):
            if all(tlines[start + k].match(run[k]) for k in range(len(run))):
                found = start
                break
        check(found is not None,
              "docs/running.md: %s snippet lines %r are not in "
              "tests/lab/templates/%s (in this order)" % (name, run, name))
        if found is None:
            return
        pos = found + len(run)


running = read("docs/running.md")
snippets = fenced_after(running, r"<!-- lab-template: ([\w.]+) -->")
check({m.group(1) for m, _ in snippets} >= {"prosody.cfg.lua", "ejabberd.yml"},
      "docs/running.md: a Prosody and an ejabberd snippet are marked")
for m, lines in snippets:
    check(m.group(1) in COMMENT, "known template %s" % m.group(1))
    if m.group(1) in COMMENT:
        check_snippet(m.group(1), lines)

# The doc's values must match each other: the secret and name are examples,
# but the port is the one the certwatch config snippet uses.
check('component_ports = { 5347 }' in running and 'port: 5347' in running,
      "docs/running.md: the server snippets use port 5347")


# ---- configuration keys and defaults ----------------------------------------

config_c = read("component/config.c")


def c_args(text):
    """The comma-separated parts of text at parenthesis/brace depth 0."""
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch in "({":
            depth += 1
        elif ch in ")}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


# The key table, config_keys[] (docs/architecture.md): one entry per key,
# either a macro (STR, UINT, BOOL) or a brace initializer.
tbl = re.search(r"const struct config_key config_keys\[\] = \{(.*?)\n\};",
                config_c, re.S)
check(tbl is not None, "found config_keys[] in config.c")
tbl_text = re.sub(r"/\*.*?\*/", " ", tbl.group(1) if tbl else "", flags=re.S)
keys, kinds, defaults, reloadable = [], {}, {}, set()
for entry in c_args(tbl_text):
    m = re.match(r"(STR|UINT|BOOL)\((.*)\)$", entry, re.S)
    if m:
        args = c_args(m.group(2))
        kind = m.group(1)
        dflt, rl = (args[5], args[6]) if kind == "UINT" else (args[3], args[4])
    else:
        args = c_args(entry.strip("{} \n\t"))
        kind = args[2].replace("CONFIG_", "")
        dflt, rl = args[8], args[9]
    key = (args[0].strip('"'), args[1].strip('"'))
    keys.append(key)
    kinds[key] = "set_bool" if kind == "BOOL" else kind
    d = "" if dflt == "NULL" else dflt.strip('"')
    if kind == "BOOL" and d == "":
        d = "no"
    defaults[key] = d
    if rl.strip() == "1":
        reloadable.add(key)
check(len(keys) >= 30, "found the parser's keys in config.c (%d)" % len(keys))
sections = []
for s_, _ in keys:
    if s_ not in sections:
        sections.append(s_)

# docs/running.md: "### [section]" then a table "| `key` | default | what |".
doc_keys = {}
for sm in re.finditer(r"^### \[(\w+)\]\n(.*?)(?=^#|\Z)", running, re.S | re.M):
    for row in re.finditer(r"^\| `(\w+)` \| ([^|]*) \|", sm.group(2), re.M):
        d = row.group(2).strip()
        d = "" if d == "(empty)" else d.strip("`")
        doc_keys[(sm.group(1), row.group(1))] = d
for key in keys:
    check(key in doc_keys, "docs/running.md documents [%s] %s" % key)
    if key in doc_keys:
        check(doc_keys[key] == defaults[key],
              "docs/running.md: [%s] %s default %r, config.c says %r"
              % (key[0], key[1], doc_keys[key], defaults[key]))
for key in doc_keys:
    check(key in keys, "docs/running.md documents [%s] %s, which the parser "
          "does not accept" % key)

# certwatch.conf(5): "# [section]" then "*key* = ..." entries with "Default: ...".
man5 = read("man/certwatch.conf.5.scd")
man_keys = {}
for sm in re.finditer(r"^# \[(\w+)\]\n(.*?)(?=^# |\Z)", man5, re.S | re.M):
    entries = re.split(r"^\*(\w+)\* = ", sm.group(2), flags=re.M)
    for i in range(1, len(entries) - 1, 2):
        text = " ".join(entries[i + 1].split())
        dm = re.search(r"Default: (?:\*([^*]*)\*|(empty))\.", text)
        man_keys[(sm.group(1), entries[i])] = (
            None if dm is None else (dm.group(1) if dm.group(1) is not None else ""))
for key in keys:
    check(key in man_keys, "certwatch.conf(5) documents [%s] %s" % key)
    if key in man_keys:
        check(man_keys[key] == defaults[key],
              "certwatch.conf(5): [%s] %s default %r, config.c says %r"
              % (key[0], key[1], man_keys[key], defaults[key]))
for key in man_keys:
    check(key in keys, "certwatch.conf(5) documents [%s] %s, which the parser "
          "does not accept" % key)

# contrib/certwatch.conf.example: every key, set or as ";key = DEFAULT".
example = read("contrib/certwatch.conf.example")
section, ex_keys = None, {}
for ln in example.split("\n"):
    sm = re.match(r"\[(\w+)\]\s*$", ln)
    if sm:
        section = sm.group(1)
        continue
    km = re.match(r"(;?)(\w+) =\s*(.*?)\s*$", ln)
    if km and section:
        ex_keys.setdefault((section, km.group(2)), (km.group(1) == ";", km.group(3)))
for key in keys:
    check(key in ex_keys, "contrib/certwatch.conf.example lists [%s] %s" % key)
    if key in ex_keys and ex_keys[key][0]:
        check(ex_keys[key][1] == defaults[key],
              "contrib/certwatch.conf.example: ;%s = %r, config.c's default is %r"
              % (key[1], ex_keys[key][1], defaults[key]))


# ---- SIGHUP: what certwatch(8) says is reloaded is what the key table reloads

# The table's reloadable keys are what SIGHUP applies (config_reload).
reloaded = set(reloadable)
man8_text = read("man/certwatch.8.scd")
hup = re.search(r"\*SIGHUP\*\n(.*?)Everything else", man8_text, re.S)
check(hup is not None, "certwatch(8) has a SIGHUP entry naming what is reloaded")
if hup:
    said = set()
    section_ctx = None
    for m in re.finditer(r"\*(?:\[(\w+)\] ?)?(\w+)?\*", hup.group(1)):
        sec, word = m.group(1), m.group(2)
        if sec and not word:
            section_ctx = sec
            continue
        cand = [(s, k) for s, k in keys if k == word and (sec is None or s == sec)]
        if len(cand) > 1 and section_ctx:
            cand = [c for c in cand if c[0] == section_ctx]
        if len(cand) == 1:
            said.add(cand[0])
    check(said == reloaded,
          "certwatch(8) SIGHUP names %s; the key table reloads %s"
          % (sorted(said - reloaded) or "", sorted(reloaded - said) or ""))


# ---- ini blocks through the real parser --------------------------------------

tmp = tempfile.mkdtemp(prefix="test_docs.")
secret = os.path.join(tmp, "secret")
with open(secret, "w") as f:
    f.write("s3cret\n")
os.chmod(secret, 0o600)
doc_files = ["README.md"] + sorted(os.path.relpath(p, ROOT) for p in
                                   glob.glob(os.path.join(ROOT, "docs", "*.md")))
n_ini = 0
for rel in doc_files:
    for i, m in enumerate(re.finditer(r"```ini\n(.*?)\n```", read(rel), re.S)):
        text = m.group(1).replace("…", "x")
        text = re.sub(r"(?m)^(secret_file\s*=).*$", r"\1 " + secret, text)
        if not re.search(r"(?m)^jid\s*=", text):
            text = "[component]\njid = certwatch.example.org\n" + text
        if not re.search(r"(?m)^secret(_file)?\s*=", text):
            text = "[component]\nsecret = s3cret\n" + text
        path = os.path.join(tmp, "block.ini")
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o600)
        p = subprocess.run([CERTWATCH, "run", "-n", "-c", path],
                           capture_output=True, text=True)
        check(p.returncode == 0, "%s: ini block %d is valid for `certwatch run -n` "
              "(exit %d: %s)" % (rel, i + 1, p.returncode, p.stderr.strip()))
        n_ini += 1
check(n_ini >= 2, "found ini blocks in README.md and docs/ (%d)" % n_ini)


# ---- replies quoted from the code -------------------------------------------

def c_strings(rel):
    """The file's string literals, adjacent ones joined, escapes decoded."""
    src = re.sub(r"/\*.*?\*/", " ", read(rel), flags=re.S)
    out = []
    for m in re.finditer(r'"(?:[^"\\\n]|\\.)*"(?:\s*"(?:[^"\\\n]|\\.)*")*', src):
        parts = re.findall(r'"((?:[^"\\\n]|\\.)*)"', m.group(0))
        raw = "".join(parts).encode("utf-8")
        out.append(codecs.escape_decode(raw)[0].decode("utf-8", "replace"))
    return "\n\x00\n".join(out)


CONV = r"%[-+ #0-9.]*(?:zu|llu|lu|ld|lld|u|d|s)"
usage_md = read("docs/usage.md") if os.path.exists(os.path.join(ROOT, "docs/usage.md")) else ""
quoted = fenced_after(usage_md, r"<!-- from-code: ([\w./ ]+) -->")
check(len(quoted) >= 5, "docs/usage.md quotes replies from the code (%d)" % len(quoted))
for m, lines in quoted:
    src = "".join(c_strings(f) for f in m.group(1).split())
    for ln in lines:
        if not ln.strip():
            continue
        pat = ""
        i = 0
        for pm in re.finditer(r"<[^<>]+>", ln):
            pat += re.escape(ln[i:pm.start()]) + CONV
            i = pm.end()
        pat += re.escape(ln[i:])
        check(re.search(pat, src) is not None,
              "docs/usage.md: %r is not text of %s" % (ln, m.group(1)))


# ---- certwatch(8) has every option of --help ------------------------------------

man8 = read("man/certwatch.8.scd")
helptext = subprocess.run([CERTWATCH, "--help"], capture_output=True, text=True).stdout
for opt in sorted(set(re.findall(r"(?<![\w-])(--?[a-z]+)", helptext))):
    check("*%s*" % opt in man8, "certwatch(8) documents %s" % opt)
for code in ("78",):
    check("*%s*" % code in man8, "certwatch(8) lists exit status %s" % code)


# ---- docs/running.md's commands, as written ----------------------------------

running_md = read("docs/running.md")
marked = {m.group(1): lines for m, lines in
          fenced_after(running_md, r"<!-- test_docs: ([\w-]+) -->")}
check(set(marked) >= {"destdir", "unbound-fragment", "by-hand"},
      "docs/running.md marks its runnable blocks (%s)" % sorted(marked))


def sh(line, **kw):
    return subprocess.run(["bash", "-c", line], capture_output=True, text=True,
                          timeout=120, **kw)


def t_destdir(lines):
    """meson install --destdir into a scratch directory; the files listed
    are there (under the build's own prefix)."""
    build = os.path.dirname(os.path.dirname(CERTWATCH))
    opts = {o["name"]: o["value"] for o in json.loads(subprocess.run(
        ["meson", "introspect", "--buildoptions", build],
        capture_output=True, text=True).stdout)}
    prefix = opts["prefix"]
    etc = opts["sysconfdir"]
    etc = etc if etc.startswith("/") else os.path.join(prefix, etc)
    stage = os.path.join(tmp, "stage")
    for ln in lines:
        ln = ln.replace("/tmp/certwatch-stage/usr/", stage + prefix + "/")
        ln = ln.replace("/tmp/certwatch-stage/etc/", stage + etc + "/")
        ln = ln.replace("/tmp/certwatch-stage", stage)
        ln = ln.replace("-C build ", "-C %s " % build)
        p = sh(ln)
        check(p.returncode == 0, "running.md (destdir): %r exits %d: %s"
              % (ln, p.returncode, (p.stdout + p.stderr)[-500:]))
    subprocess.run(["rm", "-rf", stage])


def t_fragment(lines):
    frag = os.path.join(tmp, "fragment.conf")
    conf = os.path.join(tmp, "fragment.ini")
    for text, want in (("\n".join(lines) + "\n", 0),
                       ("\n".join(ln for ln in lines if ln != "server:") + "\n",
                        78)):
        with open(frag, "w") as f:
            f.write(text)
        with open(conf, "w") as f:
            f.write("[component]\njid = certwatch.example.org\nsecret = s\n"
                    "[store]\ndir = %s/fragment-state\n[dns]\nunbound_conf = %s\n"
                    % (tmp, frag))
        os.chmod(conf, 0o600)
        p = subprocess.run([CERTWATCH, "run", "-n", "-c", conf],
                           capture_output=True, text=True)
        check(p.returncode == want, "running.md (unbound-fragment)%s: run -n "
              "exits %d, want %d: %s" % ("" if want == 0 else " without server:",
                                         p.returncode, want, p.stderr.strip()))


def t_by_hand(lines):
    """The commands of "Running by hand" in a scratch directory: /etc/certwatch
    and /var/lib/certwatch moved there, the account `nobody` (an unprivileged
    user that exists everywhere) in place of a new `certwatch` one."""
    root = tempfile.mkdtemp(prefix="test_docs.byhand.")
    os.chmod(root, 0o755)
    etc, state = os.path.join(root, "etc"), os.path.join(root, "state")
    os.mkdir(etc, 0o755)
    # Sections 2 and 3: the secret (root's, 0600) and the minimal config.
    p = sh("umask 077; openssl rand -hex 24 > %s/secret" % etc)
    check(p.returncode == 0, "by-hand: the secret as section 2 makes it")
    ini = re.search(r"A minimal file, for the systemd unit below:\n\n```ini\n(.*?)\n```",
                    running_md, re.S)
    check(ini is not None, "by-hand: section 3's minimal file")
    with open(os.path.join(etc, "certwatch.conf"), "w") as f:
        f.write(ini.group(1).replace("/var/lib/certwatch", state) if ini else "")
    os.chmod(os.path.join(etc, "certwatch.conf"), 0o600)
    daemon = None
    for ln in lines:
        if ln.startswith("useradd "):
            continue    # no new account on the test host: nobody instead
        ln = ln.replace("/etc/certwatch", etc).replace("/var/lib/certwatch", state)
        ln = re.sub(r"(-[ug] |-o |chgrp )certwatch", lambda m: m.group(1) +
                    ("nogroup" if m.group(1) in ("-g ", "chgrp ") else "nobody"), ln)
        ln = ln.replace("-- certwatch ", "-- %s " % CERTWATCH)
        if " run -c " in ln:
            daemon = ln
            continue
        p = sh(ln)
        check(p.returncode == 0, "running.md (by-hand): %r exits %d: %s"
              % (ln, p.returncode, (p.stdout + p.stderr)[-500:]))
    check(daemon is not None, "by-hand: the block runs the daemon")
    if daemon:
        log = os.path.join(root, "daemon.log")
        with open(log, "w") as errf:
            d = subprocess.Popen(["bash", "-c", "exec " + daemon], stderr=errf,
                                 start_new_session=True)
        started = False
        end = time.monotonic() + 30
        while time.monotonic() < end and d.poll() is None:
            with open(log) as f:
                if "starting as certwatch.example.org" in f.read():
                    started = True
                    break
            time.sleep(0.1)
        if d.poll() is None:
            os.killpg(d.pid, signal.SIGINT)
        try:
            rc = d.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(d.pid, signal.SIGKILL)
            rc = d.wait()
        with open(log) as f:
            text = f.read()
        check(started and rc == 0, "running.md (by-hand): the daemon as nobody "
              "started and stopped on SIGINT (exit %s): %s" % (rc, text[-800:]))
        st = os.stat(state)
        check(st.st_uid == 65534 or os.getuid() != 0,
              "by-hand: the state directory belongs to the user")
    subprocess.run(["rm", "-rf", root])


if "destdir" in marked:
    t_destdir(marked["destdir"])
if "unbound-fragment" in marked:
    t_fragment(marked["unbound-fragment"])
if "by-hand" in marked and os.getuid() == 0:
    t_by_hand(marked["by-hand"])


# ---- links ----------------------------------------------------------------------

for rel in doc_files:
    base = os.path.dirname(os.path.join(ROOT, rel))
    for target in re.findall(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)", read(rel)):
        check(os.path.exists(os.path.join(base, target)),
              "%s links to %s, which does not exist" % (rel, target))

for f in glob.glob(os.path.join(tmp, "*")):
    os.unlink(f)
os.rmdir(tmp)
print("%d passed, %d failed" % (passed, len(failures)))
sys.exit(1 if failures else 0)
