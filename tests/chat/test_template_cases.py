#!/usr/bin/python3
"""test_template_cases.py — writes tests/chat/test_template_cases.inc, the table of
test_template.c: each template's expected output as Debian's python3-jinja2
renders it with transformers' settings (ImmutableSandboxedEnvironment,
trim_blocks, lstrip_blocks, loopcontrols, tojson = json.dumps(ensure_ascii=
False)), and the error cases with a substring of wafer's message.

    TZ=UTC /usr/bin/python3 tests/chat/test_template_cases.py > tests/chat/test_template_cases.inc

Notes on stderr list the error cases jinja2 accepts but wafer refuses on
purpose (unsupported constructs fail clearly instead of rendering).
"""
import json, datetime, sys
import jinja2, jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment
NOW=1721995200
def env():
    def rx(m): raise Exception(m)
    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
    e=ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    e.filters['tojson']=tojson; e.globals['raise_exception']=rx
    e.globals['strftime_now']=lambda f: datetime.datetime.fromtimestamp(NOW).strftime(f)
    return e
MSGS='[{"role":"system","content":"sys"},{"role":"user","content":"hi é"},{"role":"assistant","content":"yo"}]'
cases = [
 ("concat", "{{ 'a' ~ 1 ~ none ~ true ~ 2.5 }}"),
 ("arith", "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 4 / 2 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }}"),
 ("floats", "{{ 1.5 + 1 }} {{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1e-5 }} {{ 123456789.0 }} {{ 1e16 }} {{ 0.0001 }} {{ 1.0e15 }} {{ -0.0 }}"),
 ("precedence", "{{ 10 // 3 * 3 + 10 % 3 }} {{ 2 + 3 * 4 ** 2 }} {{ -2 ** 2 }} {{ 'a' ~ 2 * 3 }} {{ (1 + 2) * 3 }}"),
 ("if-elif", "{% for x in [1,2,3] %}{% if x == 1 %}one{% elif x == 2 %}two{% else %}other{% endif %},{% endfor %}"),
 ("loop-vars", "{% for x in 'abc' %}{{ loop.index0 }}{{ loop.index }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }}|{% endfor %}"),
 ("loop-prev-next", "{% for x in [1,2,3] %}{{ loop.previtem is defined }}{{ loop.nextitem|default('-') }}{{ loop.cycle('a','b') }} {% endfor %}"),
 ("break-continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}"),
 ("for-else", "{% for x in [] %}x{% else %}empty{% endfor %}{% for x in nothing|default([]) %}{% else %}!{% endfor %}"),
 ("for-if", "{% for x in range(6) if x is odd %}{{ x }}{{ loop.index }}{{ loop.length }} {% endfor %}"),
 ("for-unpack", "{% for k, v in {'a': 1, 'b': [2]}.items() %}{{ k }}={{ v }};{% endfor %}{% for k, v in {'x': 'y'}|items %}{{ k }}{{ v }}{% endfor %}{% for k in {'p':1,'q':2} %}{{ k }}{% endfor %}"),
 ("nested-loops", "{% for a in [1,2] %}{% for b in 'xy' %}{{ a }}{{ b }}{{ loop.index }}{% endfor %}/{{ loop.index }} {% endfor %}"),
 ("set-scope", "{% set x = 1 %}{% for i in [1,2] %}{% set x = i * 10 %}{{ x }}{% endfor %}{{ x }}{% if true %}{% set y = 5 %}{% endif %}{{ y }}"),
 ("namespace", "{% set ns = namespace(n=0, s='') %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.n }} {{ ns.s }}{% set ns2 = namespace() %}{% set ns2.k = 'v' %}{{ ns2.k }}"),
 ("set-block", "{% set b %}hello {{ 1 + 1 }}{% endset %}[{{ b }}]"),
 ("set-tuple", "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t = (1, 'x') %}{{ t }} {{ (1,) }} {{ () }}"),
 ("macro", "{% macro m(a, b='B', c=none) %}{{ a }}-{{ b }}-{{ c }}{% endmacro %}{{ m(1) }} {{ m(1, 2) }} {{ m(1, c=3) }} {{ m() }}|"),
 ("macro-recursive", "{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(4) }}"),
 ("slicing", "{{ [1,2,3,4,5][1:4] }} {{ [1,2,3][::-1] }} {{ 'hello'[1:] }} {{ 'hello'[-3:] }} {{ 'héllo'[::-1] }} {{ [1,2,3,4,5][::2] }} {{ 'abc'[5:] }} {{ [1,2,3][:-1] }} {{ 'héllo'[1:3] }} {{ [1,2,3,4][-1:0:-2] }}"),
 ("indexing", "{{ 'abc'[1] }}{{ 'héllo'[1] }}{{ [1,2][-1] }}{{ [1,2][5] is defined }}{{ {'a':1}['a'] }}{{ {'a':1}.b is defined }}"),
 ("str-methods", "{{ '  hi  '.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ ' a '.lstrip() }}|{{ ' a '.rstrip() }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}|{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith(('x','c')) }}|{{ 'AbC'.upper() }}{{ 'AbC'.lower() }}|{{ 'aXbX'.replace('X', '-') }}|{{ 'hello wORLD'.title() }}|{{ 'hELLO'.capitalize() }}|{{ 'abcb'.find('b') }}{{ 'abcb'.count('b') }}|{{ '-'.join(['a','b']) }}|{{ 'a/b/c'.rsplit('/', 1) }}|{{ '12'.isdigit() }}{{ ' '.isspace() }}|{{ 'x\u3000'.strip() }}|{{ 'a b  c'.split(None, 1) }}"),
 ("dict-methods", "{% set d = {'a': 1, 'b': 2} %}{{ d.keys()|list }} {{ d.values()|list }} {{ d.get('a') }} {{ d.get('z', 'dflt') }} {{ d.get('z') }} {{ d['a'] }} {{ d.a }} {{ d|length }}"),
 ("filters", "{{ '  x '|trim }}|{{ [1,2,3]|length }}|{{ 'héllo'|length }}|{{ [3,1]|first }}{{ [3,1]|last }}|{{ ['a','b']|join(', ') }}|{{ 'Ab'|upper }}{{ 'Ab'|lower }}|{{ 'aa'|replace('a','b') }}|{{ undefined_var|default('d') }}|{{ none|default('d') }}|{{ ''|default('e', true) }}|{{ 42|string }}|{{ '42'|int + 1 }}|{{ '3.5'|float }}|{{ 'x'|int }}|{{ -3|abs }}|{{ 'xyx'|trim('x') }}|{{ [1,2]|count }}|{{ 'abc'|list }}|{{ [1,2,3]|reverse|list }}|{{ 'abc'|reverse }}|{{ 'ab'|d('q') }}|{{ 3.7|int }}|{{ '4.9'|int }}"),
 ("map-select", "{% set ms = [{'role':'user','c':1},{'role':'assistant','c':2},{'role':'user','c':3}] %}{{ ms|selectattr('role','equalto','user')|map(attribute='c')|list }} {{ ms|rejectattr('role','equalto','user')|list|length }} {{ [1,2,3,4]|select('even')|list }} {{ [1,0,2]|reject|list }} {{ ['a','b']|map('upper')|join }} {{ ms|map(attribute='x', default='-')|join }} {{ ms|selectattr('c')|list|length }} {{ ms|map(attribute='c')|join(',') }} {{ ms|join(',', attribute='role') }}"),
 ("tojson", "{{ {'a': [1, 2.5, none, true], 'b': 'é\"\\n\\t\\u0001/<>&'}|tojson }} {{ 'x'|tojson }} {{ [] |tojson }} {{ 1.0|tojson }} {{ {'b':1,'a':2}|tojson(sort_keys=true) }} {{ [1,[2]]|tojson(separators=(',', ':')) }}"),
 ("tojson-indent", "{{ {'a': {'b': [], 'c': [1, {'d': 'e'}]}, 'f': {}}|tojson(indent=2) }}\n{{ [1]|tojson(indent='\\t') }}"),
 ("tests", "{{ x is defined }}{{ none is none }}{{ 'a' is string }}{{ {} is mapping }}{{ [] is iterable }}{{ 3 is number }}{{ 3 is integer }}{{ 3.0 is float }}{{ true is boolean }}{{ 4 is divisibleby 2 }}{{ 3 is odd }}{{ 'a' is not string }}{{ 2 is eq 2 }}{{ 'ABC' is upper }}{{ [] is sequence }}{{ x is undefined }}{{ false is false }}{{ 3 is gt 2 }}{{ 2 is in [1,2] }}{{ none is not none }}{{ 'a' is iterable }}{{ 1 is string }}{{ x is iterable }}{{ 'abc' is lower }}{{ true is true }}{{ true is sameas true }}{{ 5 is even }}{{ 5 is callable }}{{ range is callable }}"),
 ("operators", "{{ 'b' in 'abc' }}{{ 2 in [1,2] }}{{ 'k' in {'k':1} }}{{ 3 not in [1] }}{{ 1 < 2 < 3 }}{{ 1 < 2 > 3 }}{{ 'a' < 'b' }}{{ not true }}{{ true and 'x' }}{{ '' or 'y' }}{{ 1 == 1.0 }}{{ [1,2] == [1,2] }}{{ -(3) }}{{ 2 * 'ab' }}{{ [1] + [2] }}{{ 'a' + 'b' }}{{ {'a':1} == {'a':1} }}{{ 1 != 2 }}{{ 'x' in undefined_y }}{{ 2 >= 2.0 }}{{ true + 1 }}{{ not none }}{{ 0 or none }}{{ [1] * 2 }}"),
 ("condexpr", "{{ 'yes' if 1 > 0 else 'no' }}{{ 'a' if false }}|{{ 1 if none else 2 }}|{{ 'x' if true else 'y' if false else 'z' }}"),
 ("ws-control", "a  {%- if true -%}  b  {%- endif -%}  c\n  {{- ' d ' -}}  \n e {{ 'f' }} \n"),
 ("trim-lstrip", "line1\n    {% if true %}\n    x\n    {% endif %}\nline2\n  {%+ if true %}y{% endif %}\n{% for i in [1,2] %}\n  {{ i }}\n{% endfor %}\nend\n\n"),
 ("comments", "a{# comment #}b\n{# c2 #}\nc {#- strip -#}   d\n  {# indented #}\ne"),
 ("escapes", "{{ 'a\\tb\\\\n\\'q\\'' }}{{ \"\\u00e9\\x41\\U0001F600\" }}{{ 'x' 'y' }}{{ '\\d' }}|{{ \"it's\" }}"),
 ("repr", "{{ {'a': 1, 'b': [true, none, 1.5, 'x']} }} {{ ['a', \"b'c\", 'd\"e', \"f'g\\\"h\"] }} {{ ['\\n'] }}"),
 ("messages", "{% for m in messages %}{{ m.role }}:{{ m['content'] }};{% endfor %}{{ add_generation_prompt }}{{ bos_token }}{{ eos_token }}{{ tools }}{{ messages|length }}{{ messages[0].role }}{{ messages[-1]['content']|upper }}"),
 ("strftime", "{{ strftime_now('%Y-%m-%d %B %d, %Y %H:%M') }}"),
 ("filter-block", "{% filter upper %}abc{{ 'd' }}{% endfilter %}"),
 ("indent", "[{{ 'x'|indent(2) }}][{{ 'a\\nb\\n\\nc'|indent(2) }}][{{ 'a\\nb'|indent(2, true) }}][{{ 'a\\n\\nb\\n'|indent(2, blank=true) }}][{{ 'a\\nb'|indent('>') }}]"),
 ("title-escape", "{{ 'hello world-foo(bar'|title }} {{ 'hELLO'|capitalize }} {{ \"<a href='x'>&</a>\"|e }} {{ '\"'|escape }}"),
 ("range", "{{ range(3)|list }} {{ range(1, 10, 3)|list }} {{ range(5, 0, -2)|list }} {{ range(0)|list }}"),
 ("undef-print", "[{{ nothing }}][{{ loop }}][{{ none }}]{% if nothing %}x{% endif %}{{ nothing|length }}"),
 ("dict-literal", "{% set d = {'k': 'v', 1: 2} %}{{ d['k'] }}{{ d[1] }}{{ d }}"),
 ("attr-item-fallback", "{{ {'items': 5}['items'] }} {{ {'a': 1}['keys']() | list }}"),
 ("iteration-scope", "{% set x = 5 %}{% for i in [1,2] %}[{{ x }}]{% set x = i %}{% endfor %}[{{ x }}]{% for i in [1,2] %}{% if i == 2 %}({{ y }}){% endif %}{% set y = i %}{% endfor %}"),
 ("macro-closure", "{% for i in [1, 2] %}{% macro m() %}<{{ i }}>{% endmacro %}{{ m() }}{% endfor %}{% set g = 'A' %}{% macro n() %}{{ g }}{% endmacro %}{% set g = 'B' %}{{ n() }}"),
 ("dict-views", "{% set d = {'a': 1} %}{{ d.items() }} {{ d.keys() }} {{ d.values() }} {{ d.items()|list }} {{ d.keys() is sequence }} {{ [1]|map('string') is sequence }}"),
 ("falsy-select", "{{ false|map('string')|list }}{{ none|select|list }}{{ 0|reject|list }}{{ (1, 2) * 2 }}{{ nothing|items|list }}"),
 ("generators-truthy", "{% if []|select %}generator is truthy{% endif %}|{% if []|select|list %}no{% endif %}"),
 ("unicode-ws-control", "{{ 'a' -}}\u00a0\u3000 b \u3000{%- if true %}c{% endif %} {{- ' d' }}\u2028"),
 ("empty", ""),
 ("text-only", "just text\nwith newline\n"),
 ("crlf", "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\nc\r\n"),
]
errs = [
 ("unknown-filter", "{{ x | nosuchfilter }}", "unknown filter 'nosuchfilter'"),
 ("unknown-test", "{{ x is nosuchtest }}", "unknown test 'nosuchtest'"),
 ("unclosed-if", "{% if true %}abc", "endif"),
 ("unclosed-for", "{% for x in y %}abc", "endfor"),
 ("bad-expr", "{{ 1 + }}", "syntax error"),
 ("unterminated-str", "{{ 'abc }}", "unterminated string"),
 ("stray-end", "{% endfor %}", "unexpected {% endfor %}"),
 ("include", "{% include 'x' %}", "unsupported tag 'include'"),
 ("extends", "{% extends 'x' %}", "unsupported tag 'extends'"),
 ("raw", "{% raw %}{{ x }}{% endraw %}", "unsupported tag 'raw'"),
 ("unclosed-var", "{{ x", "unclosed"),
 ("unclosed-comment", "{# abc", "unclosed comment"),
 ("type-error", "{{ 'a' + 1 }}", "unsupported operand"),
 ("undefined-attr", "{{ undefined_thing.attr }}", "'undefined_thing' is undefined"),
 ("div-zero", "{{ 1 / 0 }}", "division by zero"),
 ("break-outside", "{% break %}", "outside a loop"),
 ("call-undefined", "{{ foo() }}", "'foo' is undefined"),
 ("raise", "{{ raise_exception('boom ' ~ 42) }}", "template error: boom 42"),
 ("int-overflow", "{{ 9223372036854775807 + 1 }}", "overflow"),
 ("ns-assign", "{% set x = 1 %}{% set x.a = 2 %}", "non-namespace"),
 ("mod-format", "{{ '%s' % 1 }}", "printf-style"),
 ("line-number", "a\nb\n{{ c | nope }}", "line 3"),
 ("recursive-for", "{% for x in y recursive %}{% endfor %}", "recursive"),
 ("not-iterable", "{% for x in 5 %}{% endfor %}", "not iterable"),
 ("upper-nonascii", "{{ 'é'|upper }}", "non-ASCII"),
 ("bad-char", "{{ a $ b }}", "unexpected character"),
  ("concat-prec", "{{ 1 + 2 ~ 'a' }}", "unsupported operand"),
 ("print-generator", "{{ [1]|map('string') }}", "generator"),
 ("len-generator", "{{ [1]|select|length }}", "no len()"),
 ("slice-int", "{% set n = messages|length %}{{ n[1:] }}", "not subscriptable"),
 ("float-undefined", "{{ nothing|float }}", "'nothing' is undefined"),
 ("unknown-method", "{{ 'x'.format(1) }}", "unsupported method str.format()"),
 ("lt-mixed", "{{ 1 < 'a' }}", "not supported between"),
]
def cstr(s):
    out='"'
    for ch in s.encode('utf-8'):
        c=chr(ch)
        if c=='"': out+='\\"'
        elif c=='\\': out+='\\\\'
        elif c=='\n': out+='\\n'
        elif c=='\t': out+='\\t'
        elif c=='\r': out+='\\r'
        elif 32<=ch<127: out+=c
        else: out+='\\%03o'%ch
    return out+'"'
msgs=json.loads(MSGS)
print("/* test_template_cases.inc — generated by test_template_cases.py from python3-jinja2\n * renderings; do not edit by hand. */")
print("static const tcase cases[] = {")
for name,t in cases:
    try:
        r=env().from_string(t).render(messages=msgs, tools=None, documents=None, add_generation_prompt=True, bos_token='<s>', eos_token='</s>')
    except Exception as e:
        print("ERROR in", name, e, file=sys.stderr); continue
    print("    {%s,\n     %s,\n     %s, NULL}," % (cstr(name), cstr(t), cstr(r)))
for name,t,sub in errs:
    try:
        r=env().from_string(t).render(messages=msgs, add_generation_prompt=True)
        print("NOTE jinja2 does not fail:", name, repr(r), file=sys.stderr)
    except Exception as e:
        pass
    print("    {%s,\n     %s,\n     NULL, %s}," % (cstr(name), cstr(t), cstr(sub)))
print("};")
