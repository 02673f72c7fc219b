//! The parameter numbering computed from the text agrees with SQLite's own, on statements that
//! exercise every rule the tokenizer knows.

use hiqlite_shared::params::numbering;

#[test]
fn numbering_matches_sqlite() {
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    conn.execute_batch("CREATE TABLE t (a, b, \":x\", \"$y\", [@z], `#w`)")
        .unwrap();
    let cases = [
        "SELECT * FROM t WHERE a = :a",
        "SELECT * FROM t WHERE a = :a AND b = :b AND a < :a",
        "SELECT :b, :a, @a, $a, #a, :b",
        "SELECT ':no', \":x\", [@z], `#w`, x'00', :yes FROM t",
        "SELECT 'it''s :no' || :yes -- :no\n /* :no */ , :also",
        "SELECT ?, ?5, ?, :a, ?2, :a",
        "SELECT ?3, :a, ?, ?1",
        "SELECT :a$b, $x::y, $arr(1), @n_2, :ünï",
        "SELECT :Id, :id",
        "SELECT $a(b) , $c::d::e",
        "INSERT INTO t (a, b) VALUES (:a, :b) RETURNING :a, a",
        "WITH c(x) AS (SELECT :n) SELECT x, :m FROM c",
    ];
    for sql in cases {
        let stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        let ours = numbering(sql);
        assert_eq!(ours.count, stmt.parameter_count(), "count of {sql}");
        for (name, number) in &ours.named {
            assert_eq!(
                stmt.parameter_index(name).unwrap(),
                Some(*number),
                "number of {name} in {sql}"
            );
        }
        for i in 1..=stmt.parameter_count() {
            match stmt.parameter_name(i) {
                Some(name) if !name.starts_with('?') => {
                    assert_eq!(ours.number_of(name), Some(i), "{name} in {sql}")
                }
                _ => assert!(
                    ours.positional.iter().any(|p| p.number == i)
                        || ours.named.iter().all(|(_, n)| *n != i),
                    "slot {i} of {sql}"
                ),
            }
        }
    }
}
