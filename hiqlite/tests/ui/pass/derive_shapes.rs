// Every attribute and field shape #[derive(HiqliteRow)] supports.
use hiqlite::{FromRow, HiqliteRow, Row, Value};

#[derive(HiqliteRow)]
struct Plain {
    id: i64,
    name: String,
    email: Option<String>,
    avatar: Vec<u8>,
    any: Value,
    r#type: String,
}

struct Manual(i64);

impl FromRow for Manual {
    fn from_row(row: &Row<'_>) -> Result<Self, hiqlite::Error> {
        Ok(Manual(row.get_idx(0)?))
    }
}

#[derive(HiqliteRow)]
struct Nested {
    score: f64,
}

fn parse_flag(v: Value) -> Result<bool, String> {
    match v {
        Value::Integer(i) => Ok(i != 0),
        Value::Null => Ok(false),
        other => Err(format!("not a flag: {other}")),
    }
}

#[derive(HiqliteRow)]
struct Everything {
    #[row(rename = "id")]
    user_id: i64,
    #[row(skip)]
    cached: Option<String>,
    #[row(flatten)]
    nested: Nested,
    #[row(flatten)]
    manual: Manual,
    #[row(from_str)]
    address: std::net::Ipv4Addr,
    #[row(from_str)]
    maybe_address: Option<std::net::Ipv4Addr>,
    #[row(try_from = "i64")]
    small: u8,
    #[row(try_from = "i64")]
    maybe_small: Option<u8>,
    #[row(with = "parse_flag")]
    flag: bool,
    #[row(rename = "mail", from_str)]
    mail: String,
}

#[derive(HiqliteRow)]
struct Generic<T> {
    value: T,
    count: i64,
}

fn takes<T: FromRow>() {}

fn main() {
    takes::<Plain>();
    takes::<Everything>();
    takes::<Generic<String>>();
}
