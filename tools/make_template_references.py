#!/usr/bin/env python3
"""Renders chat templates and small feature templates with Python's jinja2, configured as transformers'
`apply_chat_template` configures it, and writes what they give to Fixtures/templates/ for the Swift
tests of QKVTemplates (Tests/QKVTemplatesTests).

    python3 tools/make_template_references.py [--shared ../shared/data] [--out Fixtures/templates]

- `chat.json`: every template in `<shared>/chat-templates/` (named by file, with its SHA-256) rendered
  for every conversation below: messages, tools, add_generation_prompt and extra variables (special
  tokens, ...), and the output, or the error: `{"raised": message}` for `raise_exception`, or
  `{"error": ExceptionType}` for any other jinja2/Python error.
- `features.json`: one small template per language feature, with its variables and jinja2's output
  or error (`"line"` too for syntax errors).

The environment is transformers' (`utils/chat_template_utils.py`, `_compile_jinja_template`):
`ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)` with the loop-control extension and
a `{% generation %}` tag that renders its body; `tojson` is `json.dumps` with `ensure_ascii=False` and
the `indent`, `separators`, `sort_keys` options; `raise_exception(msg)` raises `TemplateError(msg)`;
`strftime_now(fmt)` formats a fixed time (NOW below) so that the outputs do not depend on the day.
Deterministic: re-running gives the same bytes.
"""

import argparse
import datetime
import hashlib
import json
import os

import jinja2
import jinja2.ext
import jinja2.nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOW = datetime.datetime(2024, 7, 26, 14, 5, 9)


class Generation(jinja2.ext.Extension):
    """`{% generation %}...{% endgeneration %}`: transformers marks assistant text with it; the body renders as is."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

    def _body(self, caller):
        return caller()


def environment():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return NOW.strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[Generation, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def outcome(env, source, variables):
    """{"output": text} or the error jinja2 raises."""
    try:
        template = env.from_string(source)
    except jinja2.exceptions.TemplateSyntaxError as e:
        return {"error": "TemplateSyntaxError", "line": e.lineno}
    try:
        return {"output": template.render(**variables)}
    except jinja2.exceptions.TemplateError as e:
        if type(e) is jinja2.exceptions.TemplateError:
            return {"raised": e.message}
        return {"error": type(e).__name__}
    except Exception as e:  # TypeError, ValueError, ... from Python itself
        return {"error": type(e).__name__}


# MARK: Conversations

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "  The city, e.g. \"Paris\" or 'Zürich'.  "},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Temperature unit."},
                "days": {"type": "integer", "description": "Days of forecast."},
            },
            "required": ["city"],
        },
    },
}

SEARCH = {
    "type": "function",
    "function": {
        "name": "search_documents",
        "description": "Search a corpus; returns the best matches.",
        "parameters": {
            "type": "object",
            "properties": {
                "queries": {"type": "array", "items": {"type": "string"}, "description": "Queries to run."},
                "filters": {
                    "type": "object",
                    "additionalProperties": {"type": "number"},
                    "description": "Minimum scores by field.",
                },
                "limit": {"type": ["integer", "null"], "description": "At most this many."},
                "exact": {"type": "boolean", "description": "Exact matching."},
                "meta": {"type": "object", "description": "Anything else."},
            },
            "required": ["queries"],
        },
        "return": {"type": "array", "items": {"type": "string"}, "description": "Matching titles."},
    },
}

NO_PARAMS = {
    "type": "function",
    "function": {"name": "now", "description": "The time now.", "parameters": {"type": "object", "properties": {}}},
}

SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
USER = {"role": "user", "content": "Hello! How are you?"}
ASSISTANT = {"role": "assistant", "content": "I'm fine, thank you. How can I help?"}
USER2 = {"role": "user", "content": "What is 2 + 2?"}
ASSISTANT2 = {"role": "assistant", "content": "2 + 2 = 4."}
UNICODE = {
    "role": "user",
    "content": "  Héllo — \"quoted\" and 'single' \\ backslash\n  second line\twith tab, 日本語, emoji 🦙, e\u0301  \n",
}

TOOL_CALL = {
    "role": "assistant",
    "content": None,
    "tool_calls": [
        {"id": "call12345", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Zürich", "unit": "celsius"}}}
    ],
}
TOOL_CALL_STRING_ARGS = {
    "role": "assistant",
    "content": None,
    "tool_calls": [
        {"id": "call12345", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Zürich\"}"}}
    ],
}
TWO_TOOL_CALLS = {
    "role": "assistant",
    "content": "",
    "tool_calls": [
        {"id": "call12345", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
        {"id": "call67890", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Rome", "days": 3}}},
    ],
}
TOOL_RESULT = {"role": "tool", "tool_call_id": "call12345", "name": "get_weather", "content": "{\"temperature\": 21, \"sky\": \"clear\"}"}
TOOL_RESULT2 = {"role": "tool", "tool_call_id": "call67890", "name": "get_weather", "content": "{\"temperature\": 25}"}
TOOL_RESULT_DICT = {"role": "tool", "tool_call_id": "call12345", "content": {"temperature": 21, "sky": "clear"}}
WEATHER_ANSWER = {"role": "assistant", "content": "It is 21 °C and clear in Zürich."}
THINKING = {"role": "assistant", "content": "<think>\nThe user greets me.\n</think>\n\nHello there!"}

CONVERSATIONS = [
    ("system_user", [SYSTEM, USER], {}, True),
    ("user_only", [USER], {}, True),
    ("user_only_no_prompt", [USER], {}, False),
    ("multi_turn", [SYSTEM, USER, ASSISTANT, USER2], {}, True),
    ("multi_turn_no_system", [USER, ASSISTANT, USER2], {}, True),
    ("ends_with_assistant", [USER, ASSISTANT, USER2, ASSISTANT2], {}, False),
    ("unicode_content", [{"role": "system", "content": "  Be brief.\n"}, UNICODE], {}, True),
    ("thinking_history", [USER, THINKING, USER2], {}, True),
    ("empty_system", [{"role": "system", "content": ""}, USER], {}, True),
    ("not_alternating", [USER, USER2], {}, True),
    ("starts_with_assistant", [ASSISTANT, USER], {}, True),
    ("unknown_role", [{"role": "narrator", "content": "Once upon a time."}, USER], {}, True),
    ("no_messages", [], {}, True),
    ("tools", [SYSTEM, USER], {"tools": [WEATHER, SEARCH]}, True),
    ("tools_no_system", [USER], {"tools": [WEATHER, SEARCH, NO_PARAMS]}, True),
    ("tool_call_round", [USER, TOOL_CALL, TOOL_RESULT, WEATHER_ANSWER, USER2], {"tools": [WEATHER]}, True),
    ("tool_call_pending", [SYSTEM, USER, TOOL_CALL, TOOL_RESULT], {"tools": [WEATHER]}, True),
    ("tool_call_string_arguments", [USER, TOOL_CALL_STRING_ARGS, TOOL_RESULT], {"tools": [WEATHER]}, True),
    ("two_tool_calls", [USER, TWO_TOOL_CALLS, TOOL_RESULT, TOOL_RESULT2], {"tools": [WEATHER]}, True),
    ("tool_result_dict", [USER, TOOL_CALL, TOOL_RESULT_DICT], {"tools": [WEATHER]}, True),
    ("tool_history_no_tools", [USER, TOOL_CALL_STRING_ARGS, TOOL_RESULT, WEATHER_ANSWER], {}, False),
    ("tools_in_system_prompt", [SYSTEM, USER], {"tools": [WEATHER], "tools_in_user_message": False, "date_string": "01 Jan 2025"}, True),
    ("builtin_tools", [USER], {"tools": [WEATHER], "builtin_tools": ["brave_search", "code_interpreter", "wolfram_alpha"]}, True),
    ("custom_tools", [USER], {"custom_tools": [SEARCH]}, True),
    ("tools_without_user", [SYSTEM], {"tools": [WEATHER]}, True),
]

SPECIAL_TOKENS = {
    "meta": ("<|begin_of_text|>", "<|eot_id|>"),
    "Qwen": ("", "<|im_end|>"),
    "deepseek": ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    "google": ("<bos>", "<eos>"),
    "microsoft": ("<s>", "<|endoftext|>"),
    "mistralai": ("<s>", "</s>"),
    "NousResearch": ("<|begin_of_text|>", "<|im_end|>"),
}


def chat_cases(env, shared):
    folder = os.path.join(shared, "chat-templates")
    templates = []
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".jinja"):
            continue
        with open(os.path.join(folder, name), "rb") as f:
            raw = f.read()
        source = raw.decode("utf-8")
        bos, eos = SPECIAL_TOKENS[name.split("-")[0]]
        cases = []
        for case_name, messages, extra, generation_prompt in CONVERSATIONS:
            variables = {"bos_token": bos, "eos_token": eos}
            variables.update({k: v for k, v in extra.items() if k != "tools"})
            # As transformers' render_jinja_template: tools and documents are always passed, None when absent.
            render = dict(variables, messages=messages, tools=extra.get("tools"), documents=None, add_generation_prompt=generation_prompt)
            case = {
                "name": case_name,
                "messages": messages,
                "tools": extra.get("tools"),
                "add_generation_prompt": generation_prompt,
                "extra": variables,
            }
            case.update(outcome(env, source, render))
            cases.append(case)
        templates.append({"file": name, "sha256": hashlib.sha256(raw).hexdigest(), "cases": cases})
    return templates


# MARK: Features

MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "  Hi there  "},
    {"role": "assistant", "content": "Hello.", "tool_calls": [{"function": {"name": "f", "arguments": {"b": 2, "a": [1, "x"]}}}]},
    {"role": "user", "content": "Bye"},
]
DATA = {"messages": MESSAGES, "d": {"b": 2, "a": 1, "c": None}, "xs": [3, 1, 2], "s": "Hello, World", "n": 7, "f": 2.5, "t": True, "z": None, "empty": [], "words": ["b", "A", "c", "a"]}

# (name, template, variables): variables default to DATA.
FEATURES = [
    # Output, comments, whitespace control, trim_blocks and lstrip_blocks.
    ("text_only", "plain text\nwith lines\n", None),
    ("output_literals", "{{ 'a' }}|{{ \"b\" }}|{{ 1 }}|{{ 1.5 }}|{{ true }}|{{ True }}|{{ none }}|{{ None }}|{{ [1, 'x'] }}|{{ {'k': 'v', 'n': 1} }}", None),
    ("string_escapes", "{{ 'tab\\tnl\\nq\\'dq\\\"bs\\\\u\\u00e9x\\x41o\\101 unknown\\d' }}", None),
    ("adjacent_strings", "{{ 'a' 'b' \"c\" }}", None),
    ("comments", "a{# comment #}b\n{# line comment #}\nc", None),
    ("strip_minus", "a   {{- 'x' -}}   b\n  {%- if true -%}  c  {%- endif -%}  d", None),
    ("trim_blocks", "{% if true %}\nyes\n{% endif %}\nafter", None),
    ("lstrip_blocks", "  {% if true %}\n    x\n  {% endif %}\n  {{ 'y' }}\n\t{# c #}\nz", None),
    ("plus_disables", "  {%+ if true +%}\nx{% endif %}", None),
    ("raw_block", "{% raw %}{{ not rendered }} {% if %}{% endraw %}", None),
    ("crlf_newlines", "a\r\nb\rc\r\n", None),
    ("trailing_newline_kept_once", "x\n\n", None),
    # Expressions.
    ("arithmetic", "{{ 1 + 2 }} {{ 7 - 10 }} {{ 2 * 3 }} {{ 7 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 1.5 + 1 }} {{ 0.1 + 0.2 }} {{ 1e20 * 10 }} {{ 1 / 3 }}", None),
    ("float_repr", "{{ 1.0 }} {{ 100.0 }} {{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ 0.00001 }} {{ -2.5e-8 }} {{ 123456789.125 }}", None),
    ("precedence", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ -2 ** 2 }} {{ 2 * 3 ~ 4 }} {{ not true or true }} {{ 1 + 1 == 2 and 'x' }}", None),
    ("concat_tilde", "{{ 'a' ~ 1 ~ none ~ undefined_name ~ [1] ~ true }}", None),
    ("string_plus", "{{ 'a' + 'b' }} {{ [1] + [2, 3] }} {{ 'ab' * 3 }} {{ [0] * 2 }}", None),
    ("comparisons", "{{ 1 < 2 }} {{ 2 <= 1 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ 1 == true }} {{ [1, 2] < [1, 3] }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'a' != 'a' }} {{ none == none }}", None),
    ("in_operator", "{{ 'ell' in s }} {{ 'x' not in s }} {{ 2 in xs }} {{ 'a' in d }} {{ 'q' in d }} {{ 'role' in messages[0] }} {{ 'x' in undefined_name }}", None),
    ("and_or_values", "{{ 0 or 'x' }} {{ 'a' and 'b' }} {{ '' and 'b' }} {{ none or [] or 'last' }}", None),
    ("conditional_expr", "{{ 'y' if t else 'n' }} {{ 'y' if z else 'n' }} [{{ 'only' if z }}]", None),
    ("attribute_and_item", "{{ messages[0].role }} {{ messages[0]['content'] }} {{ messages.0.role }} {{ messages[-1].content }} [{{ messages[9] }}] [{{ d.missing }}] {{ d['a'] }}", None),
    ("slicing", "{{ xs[1:] }} {{ xs[:-1] }} {{ xs[::-1] }} {{ s[7:] }} {{ s[::2] }} {{ s[-5:-1] }} {{ xs[5:] }} {{ messages[1:]|length }}", None),
    ("unicode_indexing", "{% set u = 'e\u0301🦙日本' %}{{ u|length }} {{ u[1] }} {{ u[-1] }} {{ u[1:3] }} {{ u|reverse }}", None),
    ("dict_literal_order", "{{ {'z': 1, 'a': 2, 'm': 3}|tojson }} {{ {'z': 1, 'a': 2}.keys()|list }}", None),
    ("list_and_tuple", "{{ [1, [2, 3], (4, 5)]|tojson }} {% set a, b = [1, 2] %}{{ a }}{{ b }}", None),
    ("undefined_is_falsy", "{% if missing %}yes{% else %}no{% endif %}[{{ missing }}]{{ missing is defined }}{{ missing|length }}", None),
    ("undefined_attribute_errors", "{{ missing.attr }}", None),
    ("undefined_arithmetic_errors", "{{ missing + 1 }}", None),
    ("none_attribute", "[{{ z.x }}]{{ z.x is defined }}", None),
    ("type_error_str_plus_int", "{{ 'a' + 1 }}", None),
    ("division_by_zero", "{{ 1 / 0 }}", None),
    ("python_repr", "{{ ['it\\'s', \"say \\\"hi\\\"\", 'both \\' \"', 'tab\\t', 'é', none, true, 1.0] }} {{ {'k': {'n': [none]}} }}", None),
    # Statements.
    ("if_elif_else", "{% for n in [1, 2, 3] %}{% if n == 1 %}one{% elif n == 2 %}two{% else %}many{% endif %} {% endfor %}", None),
    ("for_loop_vars", "{% for x in ['a', 'b', 'c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}[{{ loop.previtem }}|{{ loop.nextitem }}] {% endfor %}", None),
    ("for_else", "{% for x in empty %}x{% else %}empty{% endfor %} {% for x in xs %}{{ x }}{% else %}no{% endfor %}", None),
    ("for_unpack_items", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %} {% for k, v in d|items %}{{ k }}{% endfor %}", None),
    ("for_dict_keys", "{% for k in d %}{{ k }}{% endfor %}", None),
    ("for_string", "{% for c in 'héllo' %}{{ c }}.{% endfor %}", None),
    ("for_inline_if", "{% for m in messages if m.role != 'system' %}{{ loop.index }}:{{ m.role }}/{{ loop.length }} {% endfor %}", None),
    ("loop_cycle", "{% for x in xs %}{{ loop.cycle('odd', 'even') }} {% endfor %}", None),
    ("break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", None),
    ("nested_loops", "{% for a in [1, 2] %}{% for b in ['x', 'y'] %}{{ a }}{{ b }}{{ loop.index }} {% endfor %}{{ loop.index }}|{% endfor %}", None),
    ("set_scoping", "{% set x = 1 %}{% for i in [1, 2] %}{% set x = x + 10 %}{{ x }} {% endfor %}{{ x }} {% if true %}{% set y = 5 %}{% endif %}{{ y }}", None),
    ("namespace", "{% set ns = namespace(count=0, found=false) %}{% for m in messages %}{% if m.role == 'user' %}{% set ns.count = ns.count + 1 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.count }} {{ ns.found }} {{ ns.other is defined }}", None),
    ("namespace_empty", "{% set ns = namespace() %}{% set ns.index = 0 %}{% for x in xs %}{% set ns.index = ns.index + x %}{% endfor %}{{ ns.index }}", None),
    ("set_block", "{% set text %}\n  Hello {{ s }}\n{% endset %}[{{ text }}] {% set up | upper %}abc{% endset %}{{ up }}", None),
    ("set_on_non_namespace", "{% set d.x = 1 %}", None),
    ("macro_defaults", "{% macro greet(name, greeting='Hello', punct='!') %}{{ greeting }}, {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', 'Hi') }} {{ greet('Cy', punct='?') }} [{{ greet() }}]", None),
    ("macro_recursion", "{% macro count(n) %}{% if n > 0 %}{{ n }}{{ count(n - 1) }}{% endif %}{% endmacro %}{{ count(5) }}", None),
    ("macro_in_expression", "{% macro m(x) %}<{{ x }}>{% endmacro %}{{ 'a' + m(1) + 'b' }} {{ m(2)|length }}", None),
    ("macro_sees_globals", "{% set g = 'top' %}{% macro m() %}{{ g }}|{{ s }}{% endmacro %}{{ m() }}", None),
    ("filter_block", "{% filter upper %}hello {{ s }}{% endfilter %} {% filter trim | title %}  two words  {% endfilter %}", None),
    ("with_block", "{% with a = 1, b = 'x' %}{{ a }}{{ b }}{% endwith %}[{{ a }}]", None),
    ("generation_tag", "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% endgeneration %}{% endif %}{% endfor %}", None),
    ("raise_exception", "{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}", None),
    ("strftime_now", "{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M:%S %A %B %j %I %p %y %%') }}", None),
    ("range_forms", "{{ range(3)|list }} {{ range(1, 4)|list }} {{ range(10, 0, -3)|list }} {{ range(0)|list }}", None),
    ("dict_global", "{{ dict(a=1, b='x')|tojson }}", None),
    # Tests.
    ("tests_types", "{% for v in [none, true, 1, 1.5, 'x', [1], {'a': 1}] %}{{ v is none }}{{ v is boolean }}{{ v is number }}{{ v is integer }}{{ v is float }}{{ v is string }}{{ v is mapping }}{{ v is iterable }}{{ v is sequence }}{{ v is true }}{{ v is false }};{% endfor %}{{ missing is iterable }}{{ missing is sequence }}{{ missing is mapping }}", None),
    ("tests_values", "{{ 3 is odd }}{{ 3 is even }}{{ 6 is divisibleby 3 }}{{ 6 is divisibleby(4) }}{{ 'a' is equalto 'a' }}{{ 1 is eq(2) }}{{ 2 is ne 3 }}{{ 1 is lt 2 }}{{ 2 is ge 2 }}{{ 1 is in [1] }}{{ none is sameas none }}{{ 'abc' is lower }}{{ 'ABC' is upper }}", None),
    ("tests_defined", "{{ s is defined }}{{ missing is defined }}{{ missing is undefined }}{{ d.c is none }}{{ d.c is defined }}{{ d.q is not defined }}{{ not missing is defined }}{{ raise_exception is defined }}{{ 'upper' is filter }}{{ 'odd' is test }}", None),
    ("test_callable", "{{ range is callable }}{{ s is callable }}{{ s.upper is callable }}", None),
    # Filters.
    ("filter_trim", "[{{ '  x y \\n'|trim }}][{{ 'xxhixx'|trim('x') }}][{{ messages[1].content|trim }}][{{ none|trim }}]", None),
    ("filter_case", "{{ s|upper }} {{ s|lower }} {{ 'hello wORLD-foo(bar)'|title }} {{ 'hELLO world'|capitalize }}", None),
    ("filter_length", "{{ xs|length }} {{ s|count }} {{ d|length }} {{ 'é🦙'|length }}", None),
    ("filter_join", "{{ xs|join(', ') }} {{ words|join }} {{ messages|join('|', attribute='role') }}", None),
    ("filter_default", "{{ missing|default('dflt') }} {{ ''|default('e') }} {{ ''|default('e', true) }} {{ z|d('zz', boolean=true) }} {{ s|d('no') }} {{ missing|default }}", None),
    ("filter_first_last", "{{ xs|first }} {{ xs|last }} {{ s|first }} {{ s|last }} [{{ empty|first }}] {{ d|first }} {{ d|last }}", None),
    ("filter_list_string", "{{ 'abc'|list }} {{ d|list }} {{ 1|string ~ 'x' }} {{ [1, 'a']|string }} {{ none|string }}", None),
    ("filter_int_float", "{{ '42'|int }} {{ '4.7'|int }} {{ 'x'|int }} {{ 'x'|int(-1) }} {{ 3.9|int }} {{ '0x1A'|int(0, 16) }} {{ true|int }} {{ '2.5'|float }} {{ 3|float }} {{ 'y'|float }} {{ ' 7 '|int }}", None),
    ("filter_replace", "{{ s|replace('l', 'L') }} {{ s|replace('l', 'L', 2) }} {{ 'ab'|replace('', '-') }}", None),
    ("filter_indent", "[{{ 'a\\nb\\n\\nc'|indent }}][{{ 'a\\nb'|indent(2, true) }}][{{ 'a\\n\\nb'|indent(width='> ', blank=true) }}][{{ 'x\\n'|indent(first=true) }}]", None),
    ("filter_unique_reverse", "{{ [1, 2, 1, 3, 2]|unique|list }} {{ words|unique|list }} {{ words|unique(case_sensitive=true)|list }} {{ xs|reverse|list }} {{ s|reverse }}", None),
    ("filter_sort", "{{ xs|sort }} {{ xs|sort(reverse=true) }} {{ words|sort }} {{ words|sort(case_sensitive=true) }} {{ messages|sort(attribute='role')|map(attribute='role')|list }}", None),
    ("filter_dictsort", "{{ {'b': 1, 'a': 3, 'C': 2}|dictsort|tojson }} {{ {'b': 1, 'a': 3, 'C': 2}|dictsort(by='value', reverse=true)|tojson }} {{ {'b': 1, 'a': 3, 'C': 2}|dictsort(true)|tojson }} {% for k, v in {'b': 1, 'a': 3}|dictsort %}{{ k }}{{ v }}{% endfor %}", None),
    ("filter_numbers", "{{ -3|abs }} {{ -2.5|abs }} {{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ 2.1|round(method='ceil') }} {{ 7|round }} {{ xs|sum }} {{ xs|min }} {{ xs|max }} {{ words|max }} {{ [0.5, 1]|sum(start=1) }}", None),
    ("filter_map", "{{ messages|map(attribute='role')|list }} {{ words|map('upper')|join }} {{ ['1', '2']|map('int')|sum }} {{ messages|map(attribute='name', default='?')|list }}", None),
    ("filter_select_reject", "{{ [0, 1, 2, 3, none, '']|select|list }} {{ range(6)|select('odd')|list }} {{ range(6)|reject('even')|list }} {{ ['a', 'b', 'a']|reject('equalto', 'a')|list }} {{ [1, 5, 9]|select('gt', 4)|list }}", None),
    ("filter_selectattr", "{{ messages|selectattr('role', 'equalto', 'user')|map(attribute='content')|list }} {{ messages|rejectattr('role', 'eq', 'user')|list|length }} {{ messages|selectattr('tool_calls')|list|length }} {{ messages|selectattr('tool_calls', 'defined')|list|length }}", None),
    ("filter_items", "{{ d|items|list|tojson }} {{ missing|items|list }}", None),
    ("filter_tojson", "{{ messages[2]|tojson }}\n{{ d|tojson(indent=2) }}\n{{ d|tojson(sort_keys=true) }}\n{{ xs|tojson(separators=(',', ':')) }}\n{{ 'é \"q\" \\n 🦙'|tojson }}\n{{ 'é'|tojson(ensure_ascii=true) }}\n{{ [1.0, 1e20, none, true, {}]|tojson(indent=1) }}\n{{ {'a': [], 'b': {}}|tojson(indent='\\t') }}", None),
    ("filter_tojson_undefined", "{{ missing|tojson }}", None),
    ("filter_safe_escape", "{{ '<a href=\"x\">&\\'</a>'|safe }} {{ '<a href=\"x\">&\\'</a>'|e }}", None),
    ("filter_misc", "{{ 'a b  c'|wordcount }} [{{ 'ab'|center(6) }}] {{ range(5)|batch(2)|list }} {{ range(5)|batch(2, 0)|list }} {{ messages[0]|attr('role') }} {{ '%s=%d %.2f %r %%'|format('x', 3, 1.5, 'q') }}", None),
    ("filter_chain_precedence", "{{ 'a' + '  b  '|trim + 'c' }} {{ -1|abs }} {{ xs|length + 1 }} {{ not empty|length }}", None),
    ("unknown_filter", "{{ s|frobnicate }}", None),
    ("unknown_test", "{{ s is frobnicated }}", None),
    # Methods.
    ("string_methods", "{{ s.upper() }} {{ s.lower() }} {{ 'hello world\\'s'.title() }} {{ 'hELLO'.capitalize() }} [{{ '  x  '.strip() }}][{{ '  x  '.lstrip() }}][{{ '  x  '.rstrip() }}] {{ 'xxaxx'.strip('x') }} {{ s.startswith('Hell') }} {{ s.endswith(('d', 'q')) }} {{ s.find('o') }} {{ s.rfind('o') }} {{ s.count('l') }} {{ '-'.join(['a', 'b']) }} {{ s.replace('o', '0') }}", None),
    ("string_split", "{{ s.split(', ') }} {{ '  a  b c '.split() }} {{ 'a,b,c'.split(',', 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ 'a\\nb\\r\\nc'.splitlines() }} {{ 'x</think>y</think>z'.split('</think>')[-1] }}", None),
    ("string_misc_methods", "{{ '123'.isdigit() }} {{ 'abc'.isalpha() }} {{ ' '.isspace() }} {{ 'abc'.islower() }} {{ 'ABC'.isupper() }} {{ 'prefix-x'.removeprefix('prefix-') }} {{ 'x.txt'.removesuffix('.txt') }} {{ '{} and {}'.format('a', 1) }} {{ '{0}{name}'.format('z', name='n') }}", None),
    ("dict_methods", "{{ d.keys()|list }} {{ d.values()|list }} {{ d.items()|list|tojson }} {{ d.get('a') }} {{ d.get('q') }} {{ d.get('q', 'dflt') }}", None),
    ("list_methods", "{{ xs.index(2) }} {{ [1, 1, 2].count(1) }}", None),
    ("list_append_refused", "{% set l = [] %}{{ l.append(1) }}", None),
    ("dict_method_shadows_key", "{% set m = {'items': 'key', 'role': 'r'} %}{{ m.role }} {{ m['items'] }} {{ m.items()|list|length }}", None),
    # Syntax errors (line numbers).
    ("syntax_unclosed_if", "line one\n{% if true %}\nno end", None),
    ("syntax_bad_expression", "ok\n\n{{ 1 + }}", None),
    ("syntax_unknown_tag", "a\n{% frobnicate %}", None),
    ("syntax_unclosed_variable", "{{ x ", None),
    ("syntax_unclosed_string", "\n{{ 'abc }}", None),
    ("syntax_unexpected_endfor", "{% if x %}{% endfor %}", None),
]


def feature_cases(env):
    cases = []
    for name, source, variables in FEATURES:
        case = {"name": name, "template": source, "variables": DATA if variables is None else variables}
        case.update(outcome(env, source, case["variables"]))
        cases.append(case)
    return cases


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", default=os.path.join(os.path.dirname(ROOT), "shared", "data"))
    parser.add_argument("--out", default=os.path.join(ROOT, "Fixtures", "templates"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    env = environment()
    about = f"Rendered by tools/make_template_references.py with jinja2 {jinja2.__version__}; strftime_now formats {NOW.isoformat()}."
    for file_name, payload in [
        ("chat.json", {"about": about, "now": NOW.isoformat(), "templates": chat_cases(env, args.shared)}),
        ("features.json", {"about": about, "now": NOW.isoformat(), "cases": feature_cases(env)}),
    ]:
        with open(os.path.join(args.out, file_name), "w", encoding="utf-8") as f:
            json.dump(payload, f, ensure_ascii=False, indent=1)
            f.write("\n")
        print(f"wrote {os.path.join(args.out, file_name)}")


if __name__ == "__main__":
    main()
