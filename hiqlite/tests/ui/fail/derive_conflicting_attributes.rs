use hiqlite::HiqliteRow;

#[derive(HiqliteRow)]
struct Inner {
    a: i64,
}

#[derive(HiqliteRow)]
struct Conflicts {
    #[row(skip, rename = "x")]
    skipped: i64,
    #[row(flatten, from_str)]
    inner: Inner,
    #[row(from_str, try_from = "i64")]
    two_conversions: u8,
    #[row(try_from = "i64", with = "conv")]
    also_two: u8,
}

fn main() {}
