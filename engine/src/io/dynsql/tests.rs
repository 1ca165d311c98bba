use indexmap::IndexMap;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

fn render(sql: &str, input: Value) -> RenderedSql {
    render_with(sql, input, Placeholder::Dollar, &IndexMap::new())
}

fn render_with(
    sql: &str,
    input: Value,
    placeholder: Placeholder,
    identifiers: &IndexMap<String, Vec<String>>,
) -> RenderedSql {
    let (template, diagnostics) = SqlTemplate::parse(sql);
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    template
        .render(&input, placeholder, identifiers)
        .expect("renders")
}

fn squash(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn binds_become_placeholders() {
    let out = render(
        "SELECT * FROM t WHERE a = #{a} AND b = #{ b.c , jdbcType=VARCHAR}",
        json!({"a": 1, "b": {"c": "x"}}),
    );
    assert_eq!(out.sql, "SELECT * FROM t WHERE a = $1 AND b = $2");
    assert_eq!(out.binds, vec![json!(1), json!("x")]);
    let (template, _) = SqlTemplate::parse("x = #{a} or y = #{a}");
    let out = template
        .render(&json!({}), Placeholder::Question, &IndexMap::new())
        .unwrap();
    assert_eq!(out.sql, "x = ? or y = ?");
    assert_eq!(out.binds, vec![Value::Null, Value::Null]);
}

#[test]
fn where_drops_leading_and_or_and_vanishes_when_empty() {
    let sql = r#"SELECT id FROM orders
        <where>
          <if test="status != null">AND status = #{status}</if>
          <if test="min != null">and total &gt;= #{min}</if>
          <if test="q != null">OR name LIKE #{q}</if>
        </where>
        ORDER BY id"#;
    let out = render(sql, json!({"min": 10}));
    assert_eq!(
        squash(&out.sql),
        "SELECT id FROM orders WHERE total >= $1 ORDER BY id"
    );
    let out = render(sql, json!({}));
    assert_eq!(squash(&out.sql), "SELECT id FROM orders ORDER BY id");
    let out = render(sql, json!({"status": "open", "q": "%a%"}));
    assert_eq!(
        squash(&out.sql),
        "SELECT id FROM orders WHERE status = $1 OR name LIKE $2 ORDER BY id"
    );
    // A column whose name starts with a keyword is not cut.
    let out = render("<where>android = 1</where>", json!({}));
    assert_eq!(out.sql, "WHERE android = 1");
}

#[test]
fn set_drops_trailing_comma() {
    let sql = r#"UPDATE t <set><if test="a != null">a = #{a},</if><if test="b != null">b = #{b},</if></set> WHERE id = #{id}"#;
    let out = render(sql, json!({"a": 1, "b": 2, "id": 3}));
    assert_eq!(squash(&out.sql), "UPDATE t SET a = $1,b = $2 WHERE id = $3");
    let out = render(sql, json!({"b": 2, "id": 3}));
    assert_eq!(squash(&out.sql), "UPDATE t SET b = $1 WHERE id = $2");
}

#[test]
fn trim_with_overrides() {
    let sql = r#"INSERT INTO t <trim prefix="(" suffix=")" suffixOverrides=",">
        <if test="a != null">a,</if><if test="b != null">b,</if></trim>
        VALUES <trim prefix="(" suffix=")" prefixOverrides="AND |OR " suffixOverrides=",">
        <if test="a != null">#{a},</if><if test="b != null">#{b},</if></trim>"#;
    let out = render(sql, json!({"a": 1, "b": 2}));
    assert_eq!(squash(&out.sql), "INSERT INTO t ( a,b ) VALUES ( $1,$2 )");

    // prefixOverrides: whichever branch comes first, its leading AND / OR goes (any case),
    // and only at the start: the connectives between branches stay.
    let sql = r#"SELECT * FROM t <trim prefix="WHERE (" suffix=")" prefixOverrides="AND |OR ">
        <if test="a != null">AND a = #{a}</if>
        <if test="b != null">or b = #{b}</if>
        <if test="c != null">OR c = #{c}</if></trim>"#;
    let out = render(sql, json!({"a": 1, "c": 3}));
    assert_eq!(
        squash(&out.sql),
        "SELECT * FROM t WHERE ( a = $1 OR c = $2 )"
    );
    let out = render(sql, json!({"b": 2, "c": 3}));
    assert_eq!(
        squash(&out.sql),
        "SELECT * FROM t WHERE ( b = $1 OR c = $2 )"
    );
    let out = render(sql, json!({"c": 3}));
    assert_eq!(squash(&out.sql), "SELECT * FROM t WHERE ( c = $1 )");
    let out = render(sql, json!({}));
    assert_eq!(squash(&out.sql), "SELECT * FROM t");
    // A name that only starts like an override keeps its letters.
    let out = render(
        r#"<trim prefixOverrides="AND |OR ">ORDER_NO = 1</trim>"#,
        json!({}),
    );
    assert_eq!(out.sql, "ORDER_NO = 1");
}

#[test]
fn foreach_over_arrays_and_objects() {
    let sql = r#"SELECT * FROM t WHERE id IN <foreach collection="ids" item="id" index="i" open="(" separator=", " close=")">#{id}</foreach>"#;
    let out = render(sql, json!({"ids": [5, 6, 7]}));
    assert_eq!(out.sql, "SELECT * FROM t WHERE id IN ($1, $2, $3)");
    assert_eq!(out.binds, vec![json!(5), json!(6), json!(7)]);
    // An empty collection renders nothing (not even `open` and `close`).
    let out = render(sql, json!({"ids": []}));
    assert_eq!(out.sql, "SELECT * FROM t WHERE id IN");

    let sql = r#"INSERT INTO kv (k, v) VALUES <foreach collection="rows" item="r" separator=",">(#{r.k}, #{r.v})</foreach>"#;
    let out = render(
        sql,
        json!({"rows": [{"k": "a", "v": 1}, {"k": "b", "v": 2}]}),
    );
    assert_eq!(out.sql, "INSERT INTO kv (k, v) VALUES ($1, $2),($3, $4)");
    assert_eq!(out.binds, vec![json!("a"), json!(1), json!("b"), json!(2)]);

    let sql =
        r#"<foreach collection="m" item="v" index="k" separator=" AND ">#{k} = #{v}</foreach>"#;
    let out = render(sql, json!({"m": {"x": 1}}));
    assert_eq!(out.binds, vec![json!("x"), json!(1)]);

    let (template, _) = SqlTemplate::parse(sql);
    let err = template
        .render(&json!({"m": 3}), Placeholder::Dollar, &IndexMap::new())
        .unwrap_err();
    assert_eq!(err, RenderError::NotACollection("m".into()));
}

#[test]
fn foreach_over_a_missing_collection_is_refused() {
    // Rendering nothing here would turn the DELETE into one without a WHERE.
    let sql = r#"DELETE FROM t <where><foreach collection="ids" item="id" open="id IN (" separator="," close=")">#{id}</foreach></where>"#;
    let (template, diagnostics) = SqlTemplate::parse(sql);
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    for input in [json!({}), json!({"ids": null}), json!({"idz": [1, 2]})] {
        let err = template
            .render(&input, Placeholder::Dollar, &IndexMap::new())
            .unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains(r#"collection="ids""#)
                && message.contains(r#"<if test="ids != null">"#),
            "{message}"
        );
    }
    let out = template
        .render(&json!({"ids": [4]}), Placeholder::Dollar, &IndexMap::new())
        .expect("renders");
    assert_eq!(squash(&out.sql), "DELETE FROM t WHERE id IN ($1)");

    // A dotted collection and a nested one name the whole path.
    let (template, _) = SqlTemplate::parse(
        r#"<foreach collection="groups" item="g"><foreach collection="g.ids" item="i">#{i}</foreach></foreach>"#,
    );
    let err = template
        .render(
            &json!({"groups": [{"ids": [1]}, {"name": "no ids"}]}),
            Placeholder::Dollar,
            &IndexMap::new(),
        )
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains(r#"collection="g.ids""#) && message.contains("g.ids != null"),
        "{message}"
    );

    // Guarded by <if>, an optional collection may be absent: the <foreach> is not rendered.
    let sql = r#"SELECT * FROM t <where><if test="ids != null">id IN <foreach collection="ids" item="id" open="(" separator="," close=")">#{id}</foreach></if></where>"#;
    assert_eq!(render(sql, json!({})).sql, "SELECT * FROM t");
    assert_eq!(render(sql, json!({"ids": null})).sql, "SELECT * FROM t");
    assert_eq!(
        squash(&render(sql, json!({"ids": [1, 2]})).sql),
        "SELECT * FROM t WHERE id IN ($1,$2)"
    );
    // So may a <choose> branch that is not taken.
    let sql = r#"<choose><when test="ids != null"><foreach collection="ids" item="id" separator=",">#{id}</foreach></when><otherwise>all</otherwise></choose>"#;
    assert_eq!(render(sql, json!({})).sql, "all");
}

#[test]
fn nested_foreach_sees_outer_variables() {
    let sql = r#"<foreach collection="groups" item="g" separator=" OR ">(<foreach collection="g.ids" item="id" separator=",">#{g.name}:#{id}</foreach>)</foreach>"#;
    let out = render(
        sql,
        json!({"groups": [{"name": "a", "ids": [1, 2]}, {"name": "b", "ids": [3]}]}),
    );
    assert_eq!(out.sql, "($1:$2,$3:$4) OR ($5:$6)");
    assert_eq!(
        out.binds,
        vec![
            json!("a"),
            json!(1),
            json!("a"),
            json!(2),
            json!("b"),
            json!(3)
        ]
    );
}

#[test]
fn choose_takes_the_first_true_branch() {
    let sql = r#"SELECT * FROM t ORDER BY <choose>
        <when test="sort == 'name'">name</when>
        <when test="sort == 'total'">total DESC</when>
        <otherwise>id</otherwise>
      </choose>"#;
    assert_eq!(
        squash(&render(sql, json!({"sort": "total"})).sql),
        "SELECT * FROM t ORDER BY total DESC"
    );
    assert_eq!(
        squash(&render(sql, json!({})).sql),
        "SELECT * FROM t ORDER BY id"
    );
    assert_eq!(
        squash(&render(sql, json!({"sort": "name"})).sql),
        "SELECT * FROM t ORDER BY name"
    );
}

#[test]
fn cdata_and_escapes_and_bare_less_than() {
    let out = render(
        "SELECT * FROM t WHERE a <![CDATA[ < ]]> #{x} AND b &lt;&gt; 'q&amp;' AND c < 3",
        json!({"x": 1}),
    );
    assert_eq!(
        out.sql,
        "SELECT * FROM t WHERE a  <  $1 AND b <> 'q&' AND c < 3"
    );
    let out = render("<![CDATA[a <if> #{x}]]>", json!({"x": 1}));
    assert_eq!(out.sql, "a <if> $1");
}

#[test]
fn identifiers_only_from_the_allow_list() {
    let mut identifiers = IndexMap::new();
    identifiers.insert(
        "table".to_owned(),
        vec!["orders".to_owned(), "archived_orders".to_owned()],
    );
    let sql = "SELECT * FROM ${table} WHERE id = #{id}";
    let out = render_with(
        sql,
        json!({"table": "archived_orders", "id": 1}),
        Placeholder::Dollar,
        &identifiers,
    );
    assert_eq!(out.sql, "SELECT * FROM archived_orders WHERE id = $1");

    let (template, _) = SqlTemplate::parse(sql);
    for bad in [
        json!("orders; DROP TABLE orders"),
        json!(null),
        json!(3),
        json!(["orders"]),
    ] {
        let err = template
            .render(
                &json!({"table": bad, "id": 1}),
                Placeholder::Dollar,
                &identifiers,
            )
            .unwrap_err();
        assert_eq!(err, RenderError::IdentifierNotAllowed("table".into()));
        let message = err.to_string();
        assert!(
            message.contains("${table}")
                && !message.contains("DROP")
                && !message.contains("SELECT"),
            "{message}"
        );
    }
    // No allow-list at all: refused.
    let err = template
        .render(
            &json!({"table": "orders"}),
            Placeholder::Dollar,
            &IndexMap::new(),
        )
        .unwrap_err();
    assert_eq!(err, RenderError::IdentifierNotAllowed("table".into()));
    assert_eq!(template.identifiers(), vec!["table"]);
}

#[test]
fn parse_errors_have_positions_inside_the_sql() {
    let cases = [
        ("SELECT 1\n<if test=\"a ==\">x</if>", 2, 15, "in test"),
        ("SELECT 1\n  <where>a = 1", 2, 3, "never closed"),
        ("x</if>", 1, 2, "closes nothing"),
        ("a = #{ }", 1, 5, "needs a name"),
        ("a = #{b", 1, 5, "never closed"),
        ("<if>x</if>", 1, 1, "needs a `test`"),
        ("<foreach item=\"x\">#{x}</foreach>", 1, 1, "collection"),
        (
            "<if test=\"a\" bogus=\"1\">x</if>",
            1,
            14,
            "no attribute `bogus`",
        ),
        ("<when test=\"a\">x</when>", 1, 1, "inside `<choose>`"),
        ("<![CDATA[ abc", 1, 1, "CDATA"),
        ("<bind name=\"x\" value=\"y\"/>", 1, 1, "not supported"),
    ];
    for (sql, line, column, needle) in cases {
        let (_, diagnostics) = SqlTemplate::parse(sql);
        let first = diagnostics
            .first()
            .unwrap_or_else(|| panic!("no diagnostic for {sql:?}"));
        let pos = first.pos.expect("a position");
        assert_eq!((pos.line, pos.column), (line, column), "{sql:?}: {first:?}");
        assert!(first.message.contains(needle), "{sql:?}: {}", first.message);
        assert_eq!(first.code, "sql.syntax");
    }
}

/// An unclosed placeholder in a comment is quoted in its diagnostic cut on a character
/// boundary, whatever its letters.
#[test]
fn a_long_placeholder_in_a_comment_is_quoted_in_whole_characters() {
    // Byte 60 of the placeholder falls inside the `ä` of `später`.
    let sql = "SELECT 1 -- #{ aaÜbersicht: Größe prüfen für alle Bestellungen, später ändern äöü }";
    let (_, diagnostics) = SqlTemplate::parse(sql);
    let quoted = diagnostics
        .iter()
        .find(|d| d.message.contains("inside a comment"))
        .unwrap_or_else(|| panic!("no comment diagnostic: {diagnostics:?}"));
    assert!(
        quoted
            .message
            .contains("`#{ aaÜbersicht: Größe prüfen für alle Bestellungen, sp`"),
        "{}",
        quoted.message
    );
}

/// A placeholder inside quotes or a comment is no parameter to the database: refused where it
/// is written. Quotes inside tag attributes, doubled quotes and placeholders outside literals
/// are fine.
#[test]
fn placeholders_inside_literals_and_comments_are_refused() {
    let refused = [
        (
            "SELECT * FROM t WHERE name LIKE '%#{q}%'",
            1,
            35,
            "a string literal",
        ),
        ("SELECT 1 -- AND b = #{b}\nAND c = #{c}", 1, 21, "a comment"),
        ("SELECT 1 /* #{a}\n */ WHERE x = #{x}", 1, 13, "a comment"),
        ("SELECT \"${col}\" FROM t", 1, 9, "a quoted identifier"),
        (
            "SELECT 1 <where><if test=\"a != 'x'\">AND a = 'it''s #{a}'</if></where>",
            1,
            52,
            "a string literal",
        ),
    ];
    for (sql, line, column, place) in refused {
        let (_, diagnostics) = SqlTemplate::parse(sql);
        let found = diagnostics
            .iter()
            .find(|d| d.message.contains(place))
            .unwrap_or_else(|| panic!("nothing found in {sql:?}: {diagnostics:?}"));
        let pos = found.pos.expect("a position");
        assert_eq!((pos.line, pos.column), (line, column), "{sql:?}: {found:?}");
        assert_eq!(diagnostics.len(), 1, "{sql:?}: {diagnostics:?}");
    }
    let fine = [
        "SELECT * FROM t WHERE name LIKE '%' || #{q} || '%' AND note = 'it''s'",
        "SELECT 1 -- a comment\nWHERE a = #{a}",
        "SELECT 1 <if test=\"name != null and name != ''\">AND n = #{name}</if>",
        "SELECT \"revenueCents\" FROM t WHERE <![CDATA[ a < #{a} ]]> AND b = 'x > y'",
    ];
    for sql in fine {
        let (_, diagnostics) = SqlTemplate::parse(sql);
        assert!(diagnostics.is_empty(), "{sql:?}: {diagnostics:?}");
    }
}

fn arb_value() -> impl Strategy<Value = String> {
    // Every generated value holds a quote, which none of the templates below contain, so a
    // value found in the SQL text could only have come from the input.
    "[ -~]{0,12}'[ -~\\p{L}]{0,12}"
}

proptest! {
    #[test]
    fn rendering_never_puts_a_bound_value_into_the_sql(
        status in arb_value(),
        name in proptest::option::of(arb_value()),
        ids in proptest::collection::vec(arb_value(), 0..5),
        sort in arb_value(),
    ) {
        let sql = r#"SELECT id FROM orders
            <where>
              <if test="status != null">AND status = #{status}</if>
              <if test="name != null and name.length() > 0">AND name = #{name}</if>
              <if test="ids.size() > 0">AND code IN <foreach collection="ids" item="i" open="(" separator="," close=")">#{i}</foreach></if>
            </where>
            ORDER BY <choose><when test="sort == 'x'">x</when><otherwise>#{sort}</otherwise></choose>"#;
        let input = json!({"status": status, "name": name, "ids": ids, "sort": sort});
        for placeholder in [Placeholder::Dollar, Placeholder::Question] {
            let out = render_with(sql, input.clone(), placeholder, &IndexMap::new());
            prop_assert!(!out.sql.contains('\''), "{}", out.sql);
            for value in [&status, &sort].into_iter().chain(&ids).chain(name.as_ref()) {
                prop_assert!(!out.sql.contains(value.as_str()));
                prop_assert!(out.binds.contains(&json!(value)));
            }
        }
    }
}
