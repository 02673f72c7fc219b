use hiqlite::HiqliteRow;

#[derive(HiqliteRow)]
#[row(rename = "x")]
struct OnStruct {
    id: i64,
}

#[derive(HiqliteRow)]
struct Attrs {
    #[row(renam = "x")]
    unknown: i64,
    #[row(rename)]
    no_value: i64,
    #[row(rename = 5)]
    not_a_string: i64,
    #[row(skip = true)]
    skip_with_value: i64,
    #[row(try_from = "not a type")]
    bad_type: i64,
    #[row(rename = "a", rename = "b")]
    twice: i64,
}

fn main() {}
