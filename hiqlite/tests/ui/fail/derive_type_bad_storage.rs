use hiqlite::HiqliteType;

#[derive(HiqliteType)]
#[hiqlite(storage = "blob")]
enum Color {
    Red,
    Green,
}

#[derive(HiqliteType)]
enum Shape {
    Circle(f64),
    Square,
}

fn main() {}
