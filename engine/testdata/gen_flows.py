# Generates testdata/flows/*/flow.bpmn and case.yaml (python3 gen_flows.py); the output is committed.
import os, textwrap, json
from xml.sax.saxutils import escape, quoteattr

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "flows")

def sw(binding=None, inputs=(), outputs=(), mi=None):
    if not binding and not inputs and not outputs and not mi:
        return ""
    attrs = "".join(f" {k}={quoteattr(v)}" for k, v in (binding or {}).items())
    inner = ""
    for n, e in inputs:
        inner += f'<sw:input name="{n}" expr={quoteattr(e)}/>'
    for n, e in outputs:
        inner += f'<sw:output name="{n}" expr={quoteattr(e)}/>'
    if mi:
        inner += "<sw:multiInstance" + "".join(f" {k}={quoteattr(v)}" for k, v in mi.items()) + "/>"
    return f"<bpmn:extensionElements><sw:task{attrs}>{inner}</sw:task></bpmn:extensionElements>"

def el(e):
    k = e[0]
    if k == "start":
        return f'<bpmn:startEvent id="{e[1]}"/>'
    if k == "end":
        return f'<bpmn:endEvent id="{e[1]}"/>'
    if k == "terminate":
        return f'<bpmn:endEvent id="{e[1]}"><bpmn:terminateEventDefinition/></bpmn:endEvent>'
    if k == "errorEnd":
        ref = f' errorRef="{e[2]}"' if e[2] else ""
        return f'<bpmn:endEvent id="{e[1]}"><bpmn:errorEventDefinition{ref}/></bpmn:endEvent>'
    if k == "messageCatch":
        return f'<bpmn:intermediateCatchEvent id="{e[1]}"><bpmn:messageEventDefinition/></bpmn:intermediateCatchEvent>'
    if k == "script":
        _, i, fmt, code, *rest = e
        opts = rest[0] if rest else {}
        return f'<bpmn:scriptTask id="{i}" scriptFormat="{fmt}">{loop(opts)}{sw(mi=opts.get("mi")) if opts.get("mi") else ""}<bpmn:script>{escape(code)}</bpmn:script></bpmn:scriptTask>'
    if k == "service":
        _, i, binding, *rest = e
        opts = rest[0] if rest else {}
        return f'<bpmn:serviceTask id="{i}">{sw(binding, opts.get("in", ()), opts.get("out", ()), opts.get("mi"))}{loop(opts)}</bpmn:serviceTask>'
    if k == "task":
        return f'<bpmn:task id="{e[1]}"/>'
    if k == "call":
        _, i, called, *rest = e
        opts = rest[0] if rest else {}
        return f'<bpmn:callActivity id="{i}" calledElement="{called}">{sw(None, opts.get("in", ()), opts.get("out", ()))}</bpmn:callActivity>'
    if k in ("xor", "and", "or"):
        tag = {"xor": "exclusiveGateway", "and": "parallelGateway", "or": "inclusiveGateway"}[k]
        d = f' default="{e[2]}"' if len(e) > 2 and e[2] else ""
        return f'<bpmn:{tag} id="{e[1]}"{d}/>'
    if k == "flow":
        _, i, s, t, *rest = e
        cond = rest[0] if rest else None
        lang = rest[1] if len(rest) > 1 else None
        if cond is None:
            return f'<bpmn:sequenceFlow id="{i}" sourceRef="{s}" targetRef="{t}"/>'
        l = f' language="{lang}"' if lang else ""
        return f'<bpmn:sequenceFlow id="{i}" sourceRef="{s}" targetRef="{t}"><bpmn:conditionExpression xsi:type="bpmn:tFormalExpression"{l}>{escape(cond)}</bpmn:conditionExpression></bpmn:sequenceFlow>'
    if k == "boundaryError":
        _, i, att, ref = e
        r = f' errorRef="{ref}"' if ref else ""
        return f'<bpmn:boundaryEvent id="{i}" attachedToRef="{att}"><bpmn:errorEventDefinition{r}/></bpmn:boundaryEvent>'
    if k == "boundaryTimer":
        _, i, att, dur = e
        return f'<bpmn:boundaryEvent id="{i}" attachedToRef="{att}"><bpmn:timerEventDefinition><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">{dur}</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>'
    if k in ("sub", "transaction"):
        _, i, children, *rest = e
        opts = rest[0] if rest else {}
        tag = "subProcess" if k == "sub" else "transaction"
        body = "".join(el(c) for c in children)
        return f'<bpmn:{tag} id="{i}">{sw(None, (), opts.get("out", ()), opts.get("mi"))}{loop(opts)}{body}</bpmn:{tag}>'
    raise ValueError(k)

def loop(opts):
    if "mi" in opts or "cardinality" in opts:
        seq = ' isSequential="true"' if opts.get("sequential") else ""
        card = f'<bpmn:loopCardinality xsi:type="bpmn:tFormalExpression">{opts["cardinality"]}</bpmn:loopCardinality>' if "cardinality" in opts else ""
        return f"<bpmn:multiInstanceLoopCharacteristics{seq}>{card}</bpmn:multiInstanceLoopCharacteristics>"
    if "loop" in opts:
        return f'<bpmn:standardLoopCharacteristics testBefore="false"><bpmn:loopCondition xsi:type="bpmn:tFormalExpression">{escape(opts["loop"])}</bpmn:loopCondition></bpmn:standardLoopCharacteristics>'
    return ""

def bpmn(processes, errors=()):
    errs = "".join(f'<bpmn:error id="{i}" name="{n}" errorCode="{c}"/>' for i, n, c in errors)
    procs = "".join(f'<bpmn:process id="{pid}" isExecutable="true">' + "".join(el(x) for x in els) + "</bpmn:process>" for pid, els in processes)
    xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
           'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:sw="https://starweave.dev/schema/bpmn/1.0" '
           f'id="defs" targetNamespace="https://starweave.dev/test">{errs}{procs}</bpmn:definitions>\n')
    return xml

def case(name, processes, yaml_text, errors=()):
    d = os.path.join(ROOT, name)
    os.makedirs(d, exist_ok=True)
    import xml.dom.minidom
    pretty = xml.dom.minidom.parseString(bpmn(processes, errors)).toprettyxml(indent="  ", encoding="UTF-8").decode()
    open(os.path.join(d, "flow.bpmn"), "w").write(pretty)
    open(os.path.join(d, "case.yaml"), "w").write(textwrap.dedent(yaml_text).lstrip())

def chain(*ids):
    return [("flow", f"f{i}", a, b) for i, (a, b) in enumerate(zip(ids, ids[1:]))]

# --- cases ---------------------------------------------------------------------------------

case("script_task_rhai", [("p", [("start", "s"), ("script", "calc", "rhai", "let total = a * b; a += 1;"), ("end", "e"), *chain("s", "calc", "e")])], """
    description: A Rhai script task sees the variables; its declarations and assignments become variables.
    input: {a: 2, b: 3}
    output: {a: 3, b: 3, total: 6}
""")

case("script_task_js", [("p", [("start", "s"), ("script", "calc", "javascript", "vars.total = vars.a * vars.b; vars.greeting = `hi ${vars.name}`;"), ("end", "e"), *chain("s", "calc", "e")])], """
    description: A JavaScript script task reads and writes the variables through `vars`.
    input: {a: 2, b: 3, name: Ada}
    output: {a: 2, b: 3, name: Ada, total: 6, greeting: hi Ada}
""")

case("task_and_throw_event", [("p", [("start", "s"), ("task", "nothing"), ("end", "e"), *chain("s", "nothing", "e")])], """
    description: A task without a binding does nothing and passes the token on.
    input: {x: 1}
    output: {x: 1}
""")

xor = [("start", "s"), ("xor", "route", "to_small"),
       ("script", "big", "rhai", 'let size = "big";'), ("script", "medium", "rhai", 'let size = "medium";'), ("script", "small", "rhai", 'let size = "small";'),
       ("xor", "merge"), ("end", "e"),
       ("flow", "f0", "s", "route"), ("flow", "to_big", "route", "big", "amount > 100"), ("flow", "to_medium", "route", "medium", "amount > 10"),
       ("flow", "to_small", "route", "small"),
       ("flow", "f1", "big", "merge"), ("flow", "f2", "medium", "merge"), ("flow", "f3", "small", "merge"), ("flow", "f4", "merge", "e")]
case("exclusive_gateway", [("p", xor)], """
    description: The first flow whose condition holds wins, in order; otherwise the default flow.
    input: {amount: 500}
    output: {amount: 500, size: big}
""")
case("exclusive_gateway_default", [("p", xor)], """
    description: No condition holds, so the default flow is taken.
    input: {amount: 5}
    output: {amount: 5, size: small}
""")

case("condition_js", [("p", [("start", "s"), ("xor", "route", "to_low"), ("script", "high", "rhai", 'let level = "high";'), ("script", "low", "rhai", 'let level = "low";'), ("end", "e1"), ("end", "e2"),
    ("flow", "f0", "s", "route"), ("flow", "to_high", "route", "high", "vars.amount > 100 && vars.tags.includes('vip')", "javascript"), ("flow", "to_low", "route", "low"),
    ("flow", "f1", "high", "e1"), ("flow", "f2", "low", "e2")])], """
    description: A condition in JavaScript (language="javascript") reads the variables through `vars`.
    input: {amount: 150, tags: [new, vip]}
    output: {amount: 150, tags: [new, vip], level: high}
""")

par = [("start", "s"), ("and", "fork"), ("service", "load_user", {"connector": "users", "method": "get"}, {"in": [("id", "user_id")], "out": [("user", "result")]}),
       ("service", "load_orders", {"connector": "orders", "method": "list"}, {"in": [("user", "user_id")], "out": [("orders", "result.items")]}),
       ("and", "join"), ("script", "combine", "rhai", "let summary = `${user.name} has ${orders.len()} orders`;"), ("end", "e"),
       ("flow", "f0", "s", "fork"), ("flow", "f1", "fork", "load_user"), ("flow", "f2", "fork", "load_orders"), ("flow", "f3", "load_user", "join"), ("flow", "f4", "load_orders", "join"),
       ("flow", "f5", "join", "combine"), ("flow", "f6", "combine", "e")]
case("parallel_gateway", [("p", par)], """
    description: Both branches run concurrently (each call takes 100 ms of paused time); the join waits for both.
    paused_time: true
    input: {user_id: u1}
    fake:
      users.get: [{result: {name: Ada}, delay_ms: 100}]
      orders.list: [{result: {items: [1, 2, 3]}, delay_ms: 100}]
    output: {user_id: u1, user: {name: Ada}, orders: [1, 2, 3], summary: Ada has 3 orders}
""")

inc = [("start", "s"), ("or", "split", "to_none"),
       ("script", "email", "rhai", 'let emailed = true;'), ("script", "sms", "rhai", 'let texted = true;'), ("script", "none", "rhai", 'let nobody = true;'),
       ("or", "join"), ("script", "done", "rhai", 'let finished = true;'), ("end", "e"),
       ("flow", "f0", "s", "split"), ("flow", "to_email", "split", "email", "channels.contains(\"email\")"), ("flow", "to_sms", "split", "sms", "channels.contains(\"sms\")"),
       ("flow", "to_none", "split", "none"),
       ("flow", "f1", "email", "join"), ("flow", "f2", "sms", "join"), ("flow", "f3", "none", "join"), ("flow", "f4", "join", "done"), ("flow", "f5", "done", "e")]
case("inclusive_one_branch", [("p", inc)], """
    description: One condition holds; the inclusive join fires once that branch arrives (it does not wait for the others).
    input: {channels: [email]}
    output: {channels: [email], emailed: true, finished: true}
""")
case("inclusive_two_branches", [("p", inc)], """
    description: Two conditions hold; the inclusive join waits for both branches and fires once.
    input: {channels: [email, sms]}
    output: {channels: [email, sms], emailed: true, texted: true, finished: true}
""")

inc_slow = [("start", "s"), ("or", "split"),
       ("service", "fast", {"connector": "notify", "method": "email"}, {"out": [("emailed", "result.ok")]}),
       ("service", "slow", {"connector": "notify", "method": "sms"}, {"out": [("texted", "result.ok")]}),
       ("or", "join"), ("end", "e"),
       ("flow", "f0", "s", "split"), ("flow", "to_fast", "split", "fast", "true"), ("flow", "to_slow", "split", "slow", "send_sms"),
       ("flow", "f1", "fast", "join"), ("flow", "f2", "slow", "join"), ("flow", "f4", "join", "e")]
case("inclusive_join_waits_for_running_branch", [("p", inc_slow)], """
    description: The inclusive join sees the fast branch arrive first and waits, because the slow branch can still arrive.
    paused_time: true
    input: {send_sms: true}
    fake:
      notify.email: [{result: {ok: true}, delay_ms: 10}]
      notify.sms: [{result: {ok: true}, delay_ms: 200}]
    output: {send_sms: true, emailed: true, texted: true}
""")

loop_els = [("start", "s"), ("script", "init", "rhai", "let i = 0; let left = 0; let right = 0; let other = 0;"), ("xor", "again"), ("and", "fork"),
            ("xor", "side"), ("script", "go_left", "rhai", "left += 1;"), ("script", "go_right", "rhai", "right += 1;"), ("xor", "side_merge"),
            ("script", "count_other", "rhai", "other += 1;"), ("and", "join"), ("script", "next", "rhai", "i += 1;"), ("xor", "more", "exit"), ("end", "e"),
            ("flow", "f0", "s", "init"), ("flow", "f1", "init", "again"), ("flow", "f2", "again", "fork"), ("flow", "f3", "fork", "side"), ("flow", "f4", "fork", "count_other"),
            ("flow", "to_left", "side", "go_left", "i % 2 == 0"), ("flow", "to_right", "side", "go_right", "i % 2 == 1"),
            ("flow", "f5", "go_left", "side_merge"), ("flow", "f6", "go_right", "side_merge"), ("flow", "f7", "side_merge", "join"), ("flow", "f8", "count_other", "join"),
            ("flow", "f9", "join", "next"), ("flow", "f10", "next", "more"), ("flow", "loop_back", "more", "again", "i < 3"), ("flow", "exit", "more", "e")]
case("parallel_join_in_loop", [("p", loop_els)], """
    description: A loop around a parallel fork/join whose first branch has an exclusive split; the join counts tokens per round.
    input: {}
    output: {i: 3, left: 2, right: 1, other: 3}
""")

case("error_boundary_call_activity", [
    ("main", [("start", "s"), ("call", "lookup", "child", {"in": [("id", "user_id")], "out": [("user", "result.user")]}), ("boundaryError", "not_found", "lookup", "err_nf"),
              ("script", "fallback", "rhai", 'let user = #{name: "guest"}; let reason = error.code;'), ("end", "e_ok"), ("end", "e_fallback"),
              ("flow", "f0", "s", "lookup"), ("flow", "f1", "lookup", "e_ok"), ("flow", "f2", "not_found", "fallback"), ("flow", "f3", "fallback", "e_fallback")]),
    ("child", [("start", "cs"), ("xor", "known", "missing"), ("script", "found", "rhai", 'let user = #{name: "Ada"};'), ("errorEnd", "missing_end", "err_nf"), ("end", "ce"),
               ("flow", "c0", "cs", "known"), ("flow", "c1", "known", "found", 'id == "u1"'), ("flow", "missing", "known", "missing_end"), ("flow", "c2", "found", "ce")]),
], """
    description: The called process ends with an error end event; the error boundary on the call activity catches it by code.
    function: main
    input: {user_id: u404}
    output: {user_id: u404, error: {code: NOT_FOUND, message: Not found}, user: {name: guest}, reason: NOT_FOUND}
""", errors=[("err_nf", "Not found", "NOT_FOUND")])

case("timer_boundary", [("p", [("start", "s"), ("service", "slow_call", {"connector": "reports", "method": "build"}), ("boundaryTimer", "too_slow", "slow_call", "PT0.05S"),
    ("script", "give_up", "rhai", 'let status = "timed out";'), ("end", "e1"), ("end", "e2"),
    ("flow", "f0", "s", "slow_call"), ("flow", "f1", "slow_call", "e1"), ("flow", "f2", "too_slow", "give_up"), ("flow", "f3", "give_up", "e2")])], """
    description: An interrupting timer boundary (PT0.05S) cancels a 5 s call and takes its own path.
    paused_time: true
    input: {}
    fake:
      reports.build: [{result: {done: true}, delay_ms: 5000}]
    output: {status: timed out}
""")

mi_script = 'if item.price < 0 { throw_bpmn_error("BAD_ITEM", "item " + item.sku + " has a negative price"); } let line = item.price * item.qty;'
case("multi_instance_parallel", [("p", [("start", "s"),
    ("script", "price", "rhai", mi_script, {"mi": {"collection": "order.items", "elementVariable": "item", "outputCollection": "lines", "outputElement": "result.line"}}),
    ("script", "sum", "rhai", "let total = 0; for l in lines { total += l; }"), ("end", "e"), *chain("s", "price", "sum", "e")])], """
    description: A parallel multi-instance script task over a collection collects one output per item, in item order.
    input: {order: {items: [{sku: a, price: 2, qty: 3}, {sku: b, price: 5, qty: 1}, {sku: c, price: 1, qty: 10}]}}
    output: {order: {items: [{sku: a, price: 2, qty: 3}, {sku: b, price: 5, qty: 1}, {sku: c, price: 1, qty: 10}]}, lines: [6, 5, 10], total: 21}
""")

case("multi_instance_failing_item_caught", [("p", [("start", "s"),
    ("script", "price", "rhai", mi_script, {"mi": {"collection": "order.items", "elementVariable": "item", "outputCollection": "lines", "outputElement": "result.line"}}),
    ("boundaryError", "bad_item", "price", "err_bad"), ("script", "reject", "rhai", 'let rejected = error.message;'),
    ("end", "e"), ("end", "e2"), *chain("s", "price", "e"), ("flow", "b0", "bad_item", "reject"), ("flow", "b1", "reject", "e2")])], """
    description: One instance fails with a BPMN error; the others are cancelled and the boundary on the multi-instance activity catches it.
    input: {order: {items: [{sku: a, price: 2, qty: 3}, {sku: b, price: -1, qty: 1}]}}
    output: {order: {items: [{sku: a, price: 2, qty: 3}, {sku: b, price: -1, qty: 1}]}, error: {code: BAD_ITEM, message: item b has a negative price}, rejected: item b has a negative price}
""", errors=[("err_bad", "Bad item", "BAD_ITEM")])

case("multi_instance_failing_item_uncaught", [("p", [("start", "s"),
    ("script", "price", "rhai", mi_script, {"mi": {"collection": "order.items", "elementVariable": "item"}, "sequential": True}),
    ("end", "e"), *chain("s", "price", "e")])], """
    description: A sequential multi-instance stops at the failing item and the error fails the run.
    input: {order: {items: [{sku: a, price: 2, qty: 3}, {sku: b, price: -1, qty: 1}, {sku: c, price: 1, qty: 1}]}}
    error: {code: BAD_ITEM, message: item b has a negative price}
""")

case("multi_instance_service_cardinality", [("p", [("start", "s"),
    ("service", "ping", {"connector": "net", "method": "ping"}, {"in": [("n", "loopCounter")], "mi": {"outputCollection": "pongs", "outputElement": "result.pong"}, "cardinality": "3", "sequential": True}),
    ("end", "e"), *chain("s", "ping", "e")])], """
    description: loopCardinality runs a sequential service task three times; successive mock answers are collected.
    input: {}
    mocks:
      net.ping:
        calls:
        - result: {pong: 1}
        - result: {pong: 2}
        - result: {pong: 3}
    output: {pongs: [1, 2, 3]}
""")

case("sub_process_scope", [("p", [("start", "s"),
    ("sub", "inner", [("start", "is"), ("script", "work", "rhai", "count += 1; let temp = count * 10; let kept = temp + 1;"), ("end", "ie"), *[("flow", f"i{k}", a, b) for k, (a, b) in enumerate([("is", "work"), ("work", "ie")])]],
     {"out": [("copied", "result.kept")]}),
    ("end", "e"), *chain("s", "inner", "e")])], """
    description: Inside a sub-process, writes to existing variables reach the parent; new names stay local unless an output mapping copies them.
    input: {count: 1}
    output: {count: 2, copied: 21}
""")

case("nested_transactions", [("p", [("start", "s"),
    ("transaction", "outer", [
        ("start", "os"), ("service", "insert_order", {"connector": "db", "method": "insert_order"}, {"in": [("id", "order_id")]}),
        ("transaction", "inner", [("start", "is"), ("service", "reserve", {"connector": "db", "method": "reserve_stock"}, {"in": [("id", "order_id")]}),
                                  ("errorEnd", "no_stock", "err_stock"), *[("flow", f"i{k}", a, b) for k, (a, b) in enumerate([("is", "reserve"), ("reserve", "no_stock")])]]),
        ("boundaryError", "stock_failed", "inner", "err_stock"),
        ("service", "backorder", {"connector": "db", "method": "backorder"}, {"in": [("id", "order_id")], "out": [("backordered", "true")]}),
        ("end", "oe"), ("end", "oe2"),
        *[("flow", f"o{k}", a, b) for k, (a, b) in enumerate([("os", "insert_order"), ("insert_order", "inner"), ("inner", "oe"), ("stock_failed", "backorder"), ("backorder", "oe2")])]],
        {"out": [("backordered", "result.backordered")]}),
    ("end", "e"), *chain("s", "outer", "e")])], """
    description: A failing inner transaction rolls back alone; its boundary continues the outer transaction, which commits. Calls carry their transaction.
    input: {order_id: o1}
    fake:
      db.insert_order: [{result: {ok: true}}]
      db.reserve_stock: [{result: {ok: false}}]
      db.backorder: [{result: null}]
    output: {order_id: o1, backordered: true}
""", errors=[("err_stock", "Out of stock", "OUT_OF_STOCK")])

case("bpmn_error_from_js", [("p", [("start", "s"), ("script", "check", "javascript", "if (vars.age < 18) { throw new BpmnError('TOO_YOUNG', 'must be 18'); } vars.ok = true;"),
    ("boundaryError", "rejected", "check", None), ("script", "note", "rhai", "let why = error.code;"), ("end", "e"), ("end", "e2"),
    *chain("s", "check", "e"), ("flow", "b0", "rejected", "note"), ("flow", "b1", "note", "e2")])], """
    description: A BpmnError thrown by a JavaScript script task is caught by a catch-all error boundary event.
    input: {age: 16}
    output: {age: 16, error: {code: TOO_YOUNG, message: must be 18}, why: TOO_YOUNG}
""")

case("error_end_uncaught", [("p", [("start", "s"), ("errorEnd", "fail", "err_x"), *chain("s", "fail")])], """
    description: An error end event with nothing to catch it fails the run with its code.
    input: {}
    error: {code: REJECTED, message: Rejected}
""", errors=[("err_x", "Rejected", "REJECTED")])

case("terminate_end", [("p", [("start", "s"), ("and", "fork"), ("terminate", "stop"), ("service", "slow", {"connector": "x", "method": "slow"}), ("service", "quick", {"connector": "x", "method": "quick"}), ("end", "e"),
    ("flow", "f0", "s", "fork"), ("flow", "f1", "fork", "slow"), ("flow", "f2", "fork", "quick"), ("flow", "f4", "quick", "stop"), ("flow", "f3", "slow", "e")])], """
    description: A terminate end event ends the whole process at once, cancelling the branch still running.
    paused_time: true
    input: {}
    fake:
      x.slow: [{result: {late: true}, delay_ms: 1000}]
      x.quick: [{result: {early: true}, delay_ms: 10}]
    output: {early: true}
""")

slow = [("start", "s"), ("service", "slow", {"connector": "x", "method": "slow"}), ("end", "e"), *chain("s", "slow", "e")]
case("deadline_exceeded", [("p", slow)], """
    description: The run's deadline (100 ms) passes during a 10 s call.
    paused_time: true
    timeout_ms: 100
    input: {}
    fake:
      x.slow: [{result: {}, delay_ms: 10000}]
    error: {code: DEADLINE_EXCEEDED}
""")
case("cancellation", [("p", slow)], """
    description: The run is cancelled from outside after 20 ms, during a 10 s call.
    paused_time: true
    cancel_after_ms: 20
    input: {}
    fake:
      x.slow: [{result: {}, delay_ms: 10000}]
    error: {code: CANCELLED}
""")

case("service_task_mocked", [("p", [("start", "s"), ("service", "get_user", {"connector": "users", "method": "get"}, {"in": [("id", "user_id")], "out": [("name", "result.name"), ("vip", "result.orders > 10")]}),
    ("service", "audit", {"connector": "audit", "method": "log"}), ("end", "e"), *chain("s", "get_user", "audit", "e")])], """
    description: Mocks replace connector methods; without output mappings an object result is merged into the variables.
    input: {user_id: u1}
    mocks:
      users.get: {result: {name: Ada, orders: 12}}
      audit.log: {result: {logged: true}}
    output: {user_id: u1, name: Ada, vip: true, logged: true}
""")

case("standard_loop", [("p", [("start", "s"), ("script", "step", "rhai", "n += 1;", {"loop": "n < 5"}), ("end", "e"), *chain("s", "step", "e")])], """
    description: A standard loop repeats its task while the loop condition holds (tested after each round).
    input: {n: 0}
    output: {n: 5}
""")

case("unsupported_message_catch", [("p", [("start", "s"), ("messageCatch", "wait"), ("end", "e"), *chain("s", "wait", "e")])], """
    description: A message catch event needs a durable flow; compiling reports it instead of running.
    input: {}
    compile_error: engine.unsupported
""")
print("ok")
