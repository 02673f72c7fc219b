//! SQLite's math functions (`sqrt`, `ln`, `exp`, `pow`, `sin`, ...), computed the same on every
//! node.
//!
//! The bundled SQLite is built without `SQLITE_ENABLE_MATH_FUNCTIONS`, and SQLite's versions
//! call the platform's C math library, whose last bit may differ between libm implementations
//! (glibc releases, musl, macOS). A replicated write must compute the same value everywhere, so
//! Hiqlite registers them itself, on every connection that runs user SQL (the writer and the
//! read pool, so a read computes what a write stores), with the pure-Rust `libm` crate: the
//! same software implementation on every platform. Names, arities and argument handling follow
//! SQLite's `func.c` exactly (an argument that is not a number, or text that does not look like
//! one, gives NULL; `log(X)` is base 10; a NaN result is NULL); only the last bit of a result
//! may differ from what a SQLite built with the math functions would print on one platform.

use std::ffi::{c_int, c_void};

use rusqlite::{ffi, Connection};

use super::ffi::ScalarFn;

/// A one-argument function of a double.
type Unary = fn(f64) -> f64;
/// A two-argument function of doubles.
type Binary = fn(f64, f64) -> f64;

/// Every function, as SQLite names it, with its arity: the list `query!` declares at build time
/// too, so the two cannot disagree.
pub use hiqlite_shared::functions::MATH_FUNCTIONS as FUNCTIONS;

fn unary(name: &str) -> Option<Unary> {
    Some(match name {
        "acos" => libm::acos,
        "acosh" => libm::acosh,
        "asin" => libm::asin,
        "asinh" => libm::asinh,
        "atan" => libm::atan,
        "atanh" => libm::atanh,
        "cos" => libm::cos,
        "cosh" => libm::cosh,
        "exp" => libm::exp,
        "sin" => libm::sin,
        "sinh" => libm::sinh,
        "sqrt" => libm::sqrt,
        "tan" => libm::tan,
        "tanh" => libm::tanh,
        // SQLite: x*(M_PI/180.0) and x*(180.0/M_PI).
        "radians" => |x| x * (std::f64::consts::PI / 180.0),
        "degrees" => |x| x * (180.0 / std::f64::consts::PI),
        _ => return None,
    })
}

fn rounding(name: &str) -> Option<Unary> {
    Some(match name {
        "ceil" | "ceiling" => libm::ceil,
        "floor" => libm::floor,
        "trunc" => libm::trunc,
        _ => return None,
    })
}

fn binary(name: &str) -> Option<Binary> {
    Some(match name {
        "atan2" => libm::atan2,
        "mod" => libm::fmod,
        "pow" | "power" => libm::pow,
        _ => return None,
    })
}

/// Which logarithm a one-argument `log*` computes.
fn logarithm(name: &str) -> Option<Unary> {
    Some(match name {
        "ln" => libm::log,
        "log" | "log10" => libm::log10,
        "log2" => libm::log2,
        _ => return None,
    })
}

/// Registers every function of [`FUNCTIONS`] on `conn`.
pub fn register(conn: &Connection) -> rusqlite::Result<()> {
    for &(name, arity) in FUNCTIONS {
        let (func, data): (ScalarFn, *mut c_void) = match (name, arity) {
            ("pi", 0) => (pi_fn, std::ptr::null_mut()),
            ("log", 2) => (log_base_fn, std::ptr::null_mut()),
            _ => {
                if let Some(f) = rounding(name) {
                    (rounding_fn, f as *mut c_void)
                } else if let Some(f) = logarithm(name) {
                    (log_fn, f as *mut c_void)
                } else if let Some(f) = unary(name) {
                    (unary_fn, f as *mut c_void)
                } else if let Some(f) = binary(name) {
                    (binary_fn, f as *mut c_void)
                } else {
                    unreachable!("{name} is in FUNCTIONS but has no implementation")
                }
            }
        };
        let c_name = std::ffi::CString::new(name).expect("function names have no NUL");
        super::ffi::register_scalar(
            conn,
            &c_name,
            arity,
            ffi::SQLITE_DETERMINISTIC | ffi::SQLITE_INNOCUOUS,
            data,
            func,
        )?;
    }
    Ok(())
}

/// The arguments of a call, as SQLite passed them.
///
/// # Safety
/// `argv` must hold `argc` valid value pointers, as SQLite guarantees for a registered arity.
unsafe fn args<'a>(
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) -> &'a [*mut ffi::sqlite3_value] {
    if argv.is_null() || argc <= 0 {
        return &[];
    }
    // SAFETY: guaranteed by the caller.
    unsafe { std::slice::from_raw_parts(argv, argc as usize) }
}

/// The argument as a number, with SQLite's numeric conversion of text (`'4'` is 4), or `None`
/// when it is not one (NULL, a blob, text that is no number): the function then returns NULL.
fn number(value: *mut ffi::sqlite3_value) -> Option<(c_int, f64)> {
    // SAFETY: `value` is a valid argument of the running call; `numeric_type` may convert the
    // value in place, which SQLite allows for arguments.
    let kind = unsafe { ffi::sqlite3_value_numeric_type(value) };
    if kind != ffi::SQLITE_INTEGER && kind != ffi::SQLITE_FLOAT {
        return None;
    }
    // SAFETY: as above.
    Some((kind, unsafe { ffi::sqlite3_value_double(value) }))
}

/// The `fn` pointer registered as the function's user data.
///
/// # Safety
/// The function must have been registered by [`register`] with a `fn` of type `F` as user data.
unsafe fn user_fn<F: Copy>(ctx: *mut ffi::sqlite3_context) -> F {
    // SAFETY: by the caller's guarantee the user data is a `fn` pointer of type `F`, which has
    // the size of a data pointer on every platform Rust supports.
    unsafe { std::mem::transmute_copy(&ffi::sqlite3_user_data(ctx)) }
}

fn result_double(ctx: *mut ffi::sqlite3_context, x: f64) {
    // SAFETY: `ctx` is valid for the running call. SQLite stores NaN as NULL.
    unsafe { ffi::sqlite3_result_double(ctx, x) }
}

/// `exp`, `sin`, `sqrt`, `radians`, ... (SQLite's `math1Func`).
unsafe extern "C" fn unary_fn(
    ctx: *mut ffi::sqlite3_context,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) {
    // SAFETY: SQLite passes `argc` valid arguments.
    let args = unsafe { args(argc, argv) };
    let Some((_, x)) = args.first().and_then(|v| number(*v)) else {
        return;
    };
    // SAFETY: registered with a `Unary` as user data.
    let f: Unary = unsafe { user_fn(ctx) };
    result_double(ctx, f(x));
}

/// `pow`, `atan2`, `mod` (SQLite's `math2Func`).
unsafe extern "C" fn binary_fn(
    ctx: *mut ffi::sqlite3_context,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) {
    // SAFETY: SQLite passes `argc` valid arguments.
    let args = unsafe { args(argc, argv) };
    let (Some((_, x)), Some((_, y))) = (
        args.first().and_then(|v| number(*v)),
        args.get(1).and_then(|v| number(*v)),
    ) else {
        return;
    };
    // SAFETY: registered with a `Binary` as user data.
    let f: Binary = unsafe { user_fn(ctx) };
    result_double(ctx, f(x, y));
}

/// `ceil`, `ceiling`, `floor`, `trunc`: an integer stays the same integer (SQLite's
/// `ceilingFunc`).
unsafe extern "C" fn rounding_fn(
    ctx: *mut ffi::sqlite3_context,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) {
    // SAFETY: SQLite passes `argc` valid arguments.
    let args = unsafe { args(argc, argv) };
    let Some(&value) = args.first() else { return };
    match number(value) {
        Some((ffi::SQLITE_INTEGER, _)) => {
            // SAFETY: `ctx` and `value` are valid for the running call.
            unsafe { ffi::sqlite3_result_int64(ctx, ffi::sqlite3_value_int64(value)) }
        }
        Some((_, x)) => {
            // SAFETY: registered with a `Unary` as user data.
            let f: Unary = unsafe { user_fn(ctx) };
            result_double(ctx, f(x));
        }
        None => {}
    }
}

/// `ln`, `log`, `log10`, `log2` of one argument: NULL for zero and negative numbers (SQLite's
/// `logFunc`).
unsafe extern "C" fn log_fn(
    ctx: *mut ffi::sqlite3_context,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) {
    // SAFETY: SQLite passes `argc` valid arguments.
    let args = unsafe { args(argc, argv) };
    let Some((_, x)) = args.first().and_then(|v| number(*v)) else {
        return;
    };
    if x <= 0.0 {
        return;
    }
    // SAFETY: registered with a `Unary` as user data.
    let f: Unary = unsafe { user_fn(ctx) };
    result_double(ctx, f(x));
}

/// `log(B, X)`: the logarithm of X to base B, computed as SQLite does (`ln(X) / ln(B)`), NULL
/// unless B > 1 and X > 0.
unsafe extern "C" fn log_base_fn(
    ctx: *mut ffi::sqlite3_context,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) {
    // SAFETY: SQLite passes `argc` valid arguments.
    let args = unsafe { args(argc, argv) };
    let Some((_, base)) = args.first().and_then(|v| number(*v)) else {
        return;
    };
    if base <= 0.0 {
        return;
    }
    let ln_base = libm::log(base);
    if ln_base <= 0.0 {
        return;
    }
    let Some((_, x)) = args.get(1).and_then(|v| number(*v)) else {
        return;
    };
    if x <= 0.0 {
        return;
    }
    result_double(ctx, libm::log(x) / ln_base);
}

/// `pi()`.
unsafe extern "C" fn pi_fn(
    ctx: *mut ffi::sqlite3_context,
    _argc: c_int,
    _argv: *mut *mut ffi::sqlite3_value,
) {
    result_double(ctx, std::f64::consts::PI);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::types::Value;

    fn eval(conn: &Connection, expr: &str) -> Value {
        conn.query_row(&format!("SELECT {expr}"), [], |r| r.get(0))
            .unwrap_or_else(|e| panic!("{expr}: {e}"))
    }

    #[test]
    fn every_function_follows_sqlites_rules() {
        let conn = Connection::open_in_memory().unwrap();
        register(&conn).unwrap();
        let real = |x: f64| Value::Real(x);
        let cases: &[(&str, Value)] = &[
            ("sqrt(16)", real(4.0)),
            ("sqrt('16')", real(4.0)),
            ("sqrt('x')", Value::Null),
            ("sqrt(NULL)", Value::Null),
            ("sqrt(-1)", Value::Null),
            ("ceil(3)", Value::Integer(3)),
            ("ceil(3.2)", real(4.0)),
            ("ceiling(-3.2)", real(-3.0)),
            ("floor(-3.2)", real(-4.0)),
            ("trunc(-3.7)", real(-3.0)),
            ("trunc(7)", Value::Integer(7)),
            ("log(100)", real(2.0)),
            ("log10(1000)", real(3.0)),
            ("log2(8)", real(3.0)),
            ("ln(1)", real(0.0)),
            ("ln(0)", Value::Null),
            ("log(2, 8)", real(3.0)),
            ("log(1, 8)", Value::Null),
            ("log(2, -8)", Value::Null),
            ("exp(0)", real(1.0)),
            ("pow(2, 10)", real(1024.0)),
            ("power(2, 0.5)", real(std::f64::consts::SQRT_2)),
            ("pow(2, 'x')", Value::Null),
            ("mod(7, 3)", real(1.0)),
            ("mod(-7.5, 2)", real(-1.5)),
            ("mod(1, 0)", Value::Null),
            ("pi()", real(std::f64::consts::PI)),
            ("degrees(pi())", real(180.0)),
            ("radians(180)", real(std::f64::consts::PI)),
            ("sin(0)", real(0.0)),
            ("cos(0)", real(1.0)),
            ("atan2(1, 1)", real(std::f64::consts::FRAC_PI_4)),
            ("acos(2)", Value::Null),
        ];
        for (expr, expected) in cases {
            assert_eq!(&eval(&conn, expr), expected, "{expr}");
        }
        // Every listed function exists with its arity.
        for &(name, arity) in FUNCTIONS {
            let args = vec!["1"; arity as usize].join(", ");
            eval(&conn, &format!("{name}({args})"));
        }
    }

    #[test]
    fn results_are_the_same_bits_everywhere() {
        // libm is one software implementation; pin a few results to the bit so a change of the
        // crate that alters results (and so would split a mixed-version cluster) is noticed.
        let conn = Connection::open_in_memory().unwrap();
        register(&conn).unwrap();
        for (expr, bits) in [
            // One ulp above the correctly rounded e: libm is not correctly rounded, but it is the
            // same everywhere, which is what replication needs.
            ("exp(1)", 0x4005_BF0A_8B14_576A_u64),
            ("ln(10)", std::f64::consts::LN_10.to_bits()),
            ("sin(1)", 0x3FEA_ED54_8F09_0CEE_u64),
        ] {
            let Value::Real(x) = eval(&conn, expr) else {
                panic!("{expr} is not real")
            };
            assert_eq!(x.to_bits(), bits, "{expr} = {x}");
        }
    }
}
