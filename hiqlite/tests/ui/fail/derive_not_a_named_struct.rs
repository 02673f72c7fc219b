use hiqlite::HiqliteRow;

#[derive(HiqliteRow)]
enum Kind {
    A,
}

#[derive(HiqliteRow)]
struct Pair(i64, String);

#[derive(HiqliteRow)]
struct Unit;

#[derive(HiqliteRow)]
union Bits {
    a: u32,
}

fn main() {}
