#!/usr/bin/env python3
"""Writes the apus(8) man page from the CLI definition itself.

    scripts/gen-man.py path/to/apus > apus.8

The page is built from `apus --experimental-dump-help` (swift-argument-parser's JSON
description of every command, option and argument), so it cannot drift from the binary:
one page, a section per command, as `runc.8` + `runc-<cmd>.8` cover runc. Set
SOURCE_DATE_EPOCH for a reproducible date. Python 3 standard library only.
"""

import datetime
import json
import os
import subprocess
import sys


def roff(text):
    """Escapes text for roff: backslashes, hyphens, non-ASCII, and a leading . or ' that would start a request."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    # Non-ASCII as \[uXXXX], so the page needs no preconv (groff -man works too).
    text = "".join(c if ord(c) < 128 else "\\[u%04X]" % ord(c) for c in text)
    lines = []
    for line in text.split("\n"):
        if line.startswith((".", "'")):
            line = "\\&" + line
        lines.append(line)
    return "\n".join(lines)


def visible(arguments):
    return [a for a in arguments or [] if a.get("shouldDisplay", True) and not is_help(a)]


def is_help(argument):
    return argument.get("kind") == "flag" and any(n["name"] == "help" for n in argument.get("names", []))


def name_of(name):
    return ("-" if name["kind"] in ("short", "longWithSingleDash") else "--") + name["name"]


def value_name(argument):
    return argument.get("valueName") or argument.get("preferredName", {}).get("name", "value")


def synopsis_item(argument):
    """One argument as the usage line shows it: [--bundle <bundle>], <id>, [<command> ...]."""
    kind = argument["kind"]
    if kind == "positional":
        text = "\\fI" + roff(value_name(argument)) + "\\fR"
        if argument.get("isRepeating"):
            text += "\\ ..."
        return "[" + text + "]" if argument.get("isOptional") else text
    # "\\ " keeps an option and its value on one line when the synopsis wraps.
    preferred = argument.get("preferredName") or argument["names"][0]
    text = "\\fB" + roff(name_of(preferred)) + "\\fR"
    if kind == "option":
        text += "\\ \\fI" + roff(value_name(argument)) + "\\fR"
    if argument.get("isRepeating"):
        text += "\\ ..."
    return "[" + text + "]" if argument.get("isOptional", True) else text


def describe(argument, show_default=True):
    """A .TP entry: the names and value on the tag line, then the help text."""
    if argument["kind"] == "positional":
        tag = "\\fI" + roff(value_name(argument)) + "\\fR"
    else:
        tag = ", ".join("\\fB" + roff(name_of(n)) + "\\fR" for n in argument.get("names", []))
        if argument["kind"] == "option":
            tag += " \\fI" + roff(value_name(argument)) + "\\fR"
    body = roff(argument.get("abstract", "").strip()) or "(undocumented)"
    extra = []
    values = argument.get("allValues")
    if values:
        extra.append("One of: " + ", ".join("\\fB" + roff(v) + "\\fR" for v in values) + ".")
    default = argument.get("defaultValue")
    if show_default and default not in (None, "") and "default" not in argument.get("abstract", "").lower():
        extra.append("(default: \\fB" + roff(default) + "\\fR)")
    if argument.get("isRepeating") and argument["kind"] != "positional" and "repeat" not in body:
        extra.append("May be given more than once.")
    if argument.get("discussion"):
        extra.append(roff(str(argument["discussion"]).strip()))
    return ".TP\n" + tag + "\n" + " ".join([body] + extra) + "\n"


def paragraphs(text):
    return "\n.PP\n".join(roff(p.strip()) for p in text.strip().split("\n") if p.strip()) + "\n"


def page(root, version, date):
    name = root["commandName"]
    out = []
    out.append('.TH %s 8 "%s" "%s %s" "System Administration"\n' % (name.upper(), date, name, version))
    out.append(".SH NAME\n%s \\- %s\n" % (name, roff(root.get("abstract", ""))))
    out.append(".SH SYNOPSIS\n.B %s\n[\\fIglobal options\\fR] \\fIcommand\\fR [\\fIcommand options\\fR] [\\fIarguments\\fR]\n" % name)
    out.append(".SH DESCRIPTION\n")
    if root.get("discussion"):
        out.append(paragraphs(root["discussion"]))
    out.append(".PP\nCommands and flags follow runc's, so that container managers can call %s in its place.\n" % name)
    globals_ = visible(root.get("arguments"))
    if globals_:
        out.append(".SH GLOBAL OPTIONS\n")
        # The root command's defaults depend on who runs the dump (--root is /run/apus
        # for root, $XDG_RUNTIME_DIR/apus otherwise); its discussion above states them.
        for argument in globals_:
            out.append(describe(argument, show_default=False))
    out.append(".SH COMMANDS\n")
    for command in root.get("subcommands", []):
        if not command.get("shouldDisplay", True) or command["commandName"] == "help":
            continue
        arguments = visible(command.get("arguments"))
        usage = " ".join([name, command["commandName"]] + [synopsis_item(a) for a in arguments])
        out.append('.SS "%s"\n' % roff(command["commandName"]))
        # Left-adjusted, unhyphenated: option names must stay whole.
        out.append(".PP\n.nh\n.ad l\n" + usage + "\n.ad\n.hy\n")
        out.append(".PP\n" + roff(command.get("abstract", "")) + "\n")
        if command.get("aliases"):
            out.append(".PP\nAlso available as: " + ", ".join("\\fB" + roff(a) + "\\fR" for a in command["aliases"]) + ".\n")
        if command.get("discussion"):
            out.append(".PP\n" + paragraphs(command["discussion"]))
        for argument in arguments:
            out.append(describe(argument))
    out.append(".SH EXIT STATUS\n")
    out.append(
        "0 on success, 1 when the command fails (the error names the failing step, the object and, "
        "for configuration problems, the config.json field). \\fBrun\\fR and \\fBexec\\fR in the "
        "foreground exit with the container process's status.\n")
    out.append(".SH SEE ALSO\n\\fBrunc\\fR(8), \\fBpodman\\fR(1), \\fBcontainerd\\fR(8)\n")
    return "".join(out)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gen-man.py path/to/apus > apus.8")
    binary = sys.argv[1]
    dump = json.loads(subprocess.run([binary, "--experimental-dump-help"], check=True, capture_output=True).stdout)
    first = subprocess.run([binary, "--version"], check=True, capture_output=True, text=True).stdout.split("\n")[0]
    version = first.split()[-1] if first else "unknown"
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc) if epoch else datetime.datetime.now()
    sys.stdout.write(page(dump["command"], version, when.strftime("%Y-%m-%d")))


if __name__ == "__main__":
    main()
