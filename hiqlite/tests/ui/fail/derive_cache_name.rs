use hiqlite::CacheName;

#[derive(CacheName)]
struct NotAnEnum;

#[derive(CacheName)]
#[cache(rename_al = "kebab-case")]
enum Caches {
    Sessions,
    User(u64),
    #[cache(rename = "sessions")]
    Logins,
    #[cache(name = "x")]
    Other,
}

fn main() {
    // The stub impls keep these free of a second error.
    let _ = NotAnEnum.cache_name();
    let _ = Caches::Sessions.cache_name();
}
