use crate::lint::{Rule, lint_script};

/// The `return-type` findings of `body` under `-- @return ty`, as
/// (line, column).
fn found(ty: &str, body: &str) -> Vec<(u32, u32)> {
    let source = format!("-- @return {ty}\n{body}");
    lint_script(&source)
        .into_iter()
        .filter(|f| f.rule == Rule::ReturnType)
        .map(|f| (f.line, f.column))
        .collect()
}

#[test]
fn the_mismatches_the_rule_exists_for() {
    assert_eq!(
        found("integer", "return redis.call('GET', KEYS[1])"),
        [(2, 1)]
    );
    assert_eq!(found("string", "return {1, 2}"), [(2, 1)]);
    assert_eq!(
        found("array<string>", "return redis.call('INCR', KEYS[1])"),
        [(2, 1)]
    );
    assert_eq!(
        found(
            "integer",
            "if redis.call('EXISTS', KEYS[1]) == 1 then\n  return 1\nend\nreturn 'none'"
        ),
        [(5, 1)]
    );
    assert_eq!(
        found("integer", "local v = redis.call('GET', KEYS[1])\nreturn v"),
        [(3, 1)]
    );
    assert_eq!(found("string", "return"), [(2, 1)]);
    assert_eq!(found("array<integer>", "return {1, 'a'}"), [(2, 1)]);
    assert_eq!(
        found("integer", "return string.format('%d items', #KEYS)"),
        [(2, 1)]
    );
    assert_eq!(found("integer", "return tostring(ARGV[1])"), [(2, 1)]);
    assert_eq!(
        found(
            "integer",
            "local rcall = redis.call\nreturn rcall('SET', KEYS[1], 1)"
        ),
        [(3, 1)]
    );
}

#[test]
fn what_may_fit_is_not_reported() {
    for (ty, body) in [
        ("integer", "return tonumber(redis.call('GET', KEYS[1]))"),
        ("string", "return redis.call('GET', KEYS[1])"),
        ("nil-or-string", "return redis.call('GET', KEYS[1])"),
        ("integer", "return redis.pcall('GET', KEYS[1])"),
        ("integer", "return redis.error_reply('no')"),
        ("integer", "return {err = 'no'}"),
        ("integer", "return '42'"),
        ("string", "return redis.call('INCR', KEYS[1])"),
        ("boolean", "return redis.call('GET', KEYS[1])"),
        ("boolean", "return redis.call('EXISTS', KEYS[1]) == 1"),
        ("integer", "return true"),
        ("nil", "return {1, 2}"),
        ("value", "return 'x'"),
        (
            "integer",
            "local v = redis.call('GET', KEYS[1])\nif not v then return 0 end\nreturn 1",
        ),
        (
            "string",
            "local v = redis.call('GET', KEYS[1])\nif not v then return '' end\nreturn v",
        ),
        (
            "string",
            "local v = redis.call('GET', KEYS[1]) or ''\nreturn v",
        ),
        ("integer", "local n = 'x'\nn = 5\nreturn n"),
        (
            "integer",
            "local n = 'x'\nlocal function f() n = 5 end\nf()\nreturn n",
        ),
        ("integer", "local t = {}\nt.ok = 'x'\nreturn #t"),
        (
            "array<string>",
            "local t = {}\nfor i = 1, 3 do t[#t + 1] = tostring(i) end\nreturn t",
        ),
        ("string", "local t = {}\nt['ok'] = 'fine'\nreturn t"),
        (
            "integer",
            "local n = 0\nfor _, k in ipairs(KEYS) do n = n + redis.call('DEL', k) end\nreturn n",
        ),
        (
            "integer",
            "redis.setresp(3)\nreturn redis.call('GET', KEYS[1])",
        ),
        ("integer", "return helper()"),
        ("integer", "return tostring(redis.call('INCR', KEYS[1]))"),
        (
            "integer",
            "local n = redis.call('INCR', KEYS[1])\nreturn n .. ''",
        ),
        ("integer", "return string.format('%d', #KEYS)"),
        ("integer", "local function f() return 'x' end\nreturn 1"),
        ("status", "return redis.call('SET', KEYS[1], 1)"),
        ("array", "return redis.call('HGETALL', KEYS[1])"),
        (
            "array<nil-or-string>",
            "return redis.call('HMGET', KEYS[1], 'a', 'b')",
        ),
    ] {
        assert_eq!(found(ty, body), [], "@return {ty}: {body}");
    }
}

#[test]
fn the_header_is_read_after_a_shebang() {
    let source = "#!lua flags=no-writes\n-- @return integer\nreturn 'none'";
    let rules: Vec<Rule> = lint_script(source).into_iter().map(|f| f.rule).collect();
    assert_eq!(rules, [Rule::ReturnType]);
    // Without `@return` (or with a type the header refuses) nothing is
    // checked.
    assert!(lint_script("return 'none'").is_empty());
    assert!(lint_script("-- @return int\nreturn 'none'").is_empty());
}

#[test]
fn a_loop_carries_its_assignments() {
    // `r` is a string after the first pass of the loop.
    let body =
        "local r = 0\nfor i = 1, 3 do\n  if i == 3 then return r end\n  r = 'x'\nend\nreturn 0";
    assert_eq!(found("integer", body), []);
    let body = "local r = 'a'\nwhile true do\n  r = 'b'\n  break\nend\nreturn r";
    assert_eq!(found("integer", body), [(7, 1)]);
}

#[test]
fn the_message_says_what_and_how() {
    let source = "-- @return integer the count\nreturn redis.call('GET', KEYS[1])";
    let f = lint_script(source)
        .into_iter()
        .find(|f| f.rule == Rule::ReturnType)
        .unwrap();
    assert!(f.message.contains("a string or nil"), "{}", f.message);
    assert!(
        f.message.contains("`-- @return integer` (line 1, `i64`"),
        "{}",
        f.message
    );
    assert!(f.help.contains("`-- @return nil-or-string`"), "{}", f.help);
    assert!(f.help.contains("tonumber"), "{}", f.help);
    assert!(f.help.contains("allow(return-type)"), "{}", f.help);
    let allowed = "-- @return integer\n-- script-cache: allow(return-type)\nreturn 'none'";
    assert!(lint_script(allowed).is_empty());
}

#[test]
fn the_reply_table_is_sorted() {
    let names: Vec<&str> = super::REPLIES.iter().map(|(n, _)| *n).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(names, sorted);
    assert!(names.len() > 300, "{}", names.len());
}

/// The `return-type` findings of a library, as (line, column).
fn found_in_library(source: &str) -> Vec<(u32, u32)> {
    crate::lint::lint_library_for(source, crate::servers::Servers::ALL)
        .into_iter()
        .filter(|f| f.rule == Rule::ReturnType)
        .map(|f| (f.line, f.column))
        .collect()
}

#[test]
fn a_library_function_s_returns_are_checked_against_its_own_return() {
    let source = "#!lua name=lib
-- @key k
-- @return integer the count
redis.register_function('count', function(keys)
  return redis.call('GET', keys[1])
end)

-- @key k
-- @return nil-or-string the value
redis.register_function('peek', function(keys)
  return redis.call('GET', keys[1])
end)

local function name(keys, args)
  if args[1] then
    return {1, 2}
  end
  return 'x'
end
-- @return string
redis.register_function{function_name = 'name', callback = name, flags = {'no-writes'}}

-- No @return: nothing to check.
redis.register_function('free', function() return {1} end)
";
    // `count` returns a bulk string or nil as `i64`; `name`'s table as a
    // string; `peek` fits, `free` declares nothing.
    assert_eq!(found_in_library(source), [(5, 3), (16, 5)]);
}

#[test]
fn a_library_s_nested_functions_and_top_level_are_not_the_callback_s_returns() {
    let source = "#!lua name=lib
local function helper() return 'text' end
-- @return integer
redis.register_function('n', function(keys)
  local f = function() return 'inner' end
  return 1
end)
";
    assert_eq!(found_in_library(source), Vec::<(u32, u32)>::new());
}
