//! `worker factor` and `worker divisors` from a shell's point of view.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::Duration;

use testkit::LeakGuard;

use crate::util::{HANG, drain, run, wait_within, worker_cmd};

const SEED_FACTORS: &str = "\
2139079: 101 21179
1214759: 7 7 13 1907
1516637: 19 79823
1852285: 5 271 1367
";

const SEED_DIVISORS: &str = "\
2139079: 1 101 21179 2139079
1214759: 1 7 13 49 91 637 1907 13349 24791 93443 173537 1214759
1516637: 1 19 79823 1516637
1852285: 1 5 271 1355 1367 6835 370457 1852285
";

const SEEDS: [&str; 4] = ["2139079", "1214759", "1516637", "1852285"];

#[test]
fn seed_numbers_from_arguments_and_stdin() {
    for (mode, want) in [("factor", SEED_FACTORS), ("divisors", SEED_DIVISORS)] {
        let mut args = vec![mode];
        args.extend(SEEDS);
        let ran = run(&args, b"");
        assert_eq!(
            (ran.code, ran.out(), ran.stderr.as_str()),
            (Some(0), want, "")
        );

        let ran = run(&[mode], SEEDS.join("\n").as_bytes());
        assert_eq!(
            (ran.code, ran.out(), ran.stderr.as_str()),
            (Some(0), want, "")
        );
    }
}

/// Numbers whose factorization is known (no coreutils needed; some take it minutes).
const KNOWN: &[(&str, &str)] = &[
    ("0", ""),
    ("1", ""),
    ("2", "2"),
    ("18446744073709551615", "3 5 17 257 641 65537 6700417"), // 2^64 - 1
    ("18446744073709551617", "274177 67280421310721"),        // 2^64 + 1
    ("2305843009213693951", "2305843009213693951"),           // 2^61 - 1, prime
    ("618970019642690137449562111", "618970019642690137449562111"), // 2^89 - 1, prime
    // (2^89 - 1) * (2^31 - 1)
    (
        "1329227995165945853261116920683298817",
        "2147483647 618970019642690137449562111",
    ),
    // (2^64 - 1) * (2^61 - 1)
    (
        "42535295865117307912169238846047780865",
        "3 5 17 257 641 65537 6700417 2305843009213693951",
    ),
    (
        "170141183460469231731687303715884105727", // 2^127 - 1, prime
        "170141183460469231731687303715884105727",
    ),
    (
        "340282366920938463463374607431768211297", // 2^128 - 159, the largest u128 prime
        "340282366920938463463374607431768211297",
    ),
    (
        "340282366920938463463374607431768211455", // 2^128 - 1
        "3 5 17 257 641 65537 274177 6700417 67280421310721",
    ),
];

fn known_lines() -> (String, String) {
    let mut input = String::new();
    let mut want = String::new();
    for (n, factors) in KNOWN {
        input.push_str(n);
        input.push('\n');
        want.push_str(&format!("{n}:"));
        for f in factors.split_whitespace() {
            want.push(' ');
            want.push_str(f);
        }
        want.push('\n');
    }
    for (n, k) in [
        ("18446744073709551616", 64),
        ("170141183460469231731687303715884105728", 127),
    ] {
        input.push_str(n);
        input.push('\n');
        want.push_str(&format!("{n}:{}\n", " 2".repeat(k)));
    }
    (input, want)
}

#[test]
fn edge_cases_and_u128_with_known_factors() {
    let (input, want) = known_lines();
    let ran = run(&["factor"], input.as_bytes());
    assert_eq!(ran.code, Some(0), "stderr: {}", ran.stderr);
    assert_eq!(
        ran.out(),
        want,
        "{}",
        crate::util::first_difference(ran.out(), &want)
    );
}

#[test]
fn odd_tokens_are_read_as_coreutils_reads_them() {
    // Separators are space, tab and newline; `+` and leading zeros are dropped from the echo;
    // a NUL ends a token (C string); leading spaces in an argument are allowed.
    let ran = run(&["factor"], b"  +7\t007\n\n+0 00\t\t0012\n12\0junk   9");
    assert_eq!(
        ran.out(),
        "7: 7\n7: 7\n0:\n0:\n12: 2 2 3\n12: 2 2 3\n9: 3 3\n"
    );
    assert_eq!((ran.code, ran.stderr.as_str()), (Some(0), ""));

    let ran = run(&["factor", "+7", "007", "  12", " +0"], b"");
    assert_eq!(ran.out(), "7: 7\n7: 7\n12: 2 2 3\n0:\n");
    assert_eq!(ran.code, Some(0));

    let ran = run(&["divisors"], b"+0012\t0\n+1");
    assert_eq!(ran.out(), "12: 1 2 3 4 6 12\n0:\n1: 1\n");
    assert_eq!(ran.code, Some(0));
}

#[test]
fn bad_input_is_named_and_the_rest_still_printed() {
    let too_big = "340282366920938463463374607431768211456"; // 2^128
    for mode in ["factor", "divisors"] {
        let ran = run(
            &[
                mode, "12", "abc", "-5", "1.5", "", "7", too_big, "12 ", "0x10",
            ],
            b"",
        );
        let want = if mode == "factor" {
            "12: 2 2 3\n7: 7\n"
        } else {
            "12: 1 2 3 4 6 12\n7: 1 7\n"
        };
        assert_eq!(ran.out(), want);
        assert_eq!(ran.code, Some(1));
        let lines: Vec<&str> = ran.stderr.lines().collect();
        assert_eq!(
            lines[..6],
            [
                "worker: ‘abc’ is not a valid positive integer",
                "worker: ‘-5’ is not a valid positive integer",
                "worker: ‘1.5’ is not a valid positive integer",
                "worker: ‘’ is not a valid positive integer",
                &format!(
                    "worker: ‘{too_big}’ is too large (the largest number accepted is 2^128 - 1 = 340282366920938463463374607431768211455)"
                ),
                "worker: ‘12 ’ is not a valid positive integer",
            ]
        );
        assert_eq!(lines[6], "worker: ‘0x10’ is not a valid positive integer");
        assert_eq!(lines.len(), 7);
    }

    // From stdin, with control characters shown as escapes.
    let ran = run(&["factor"], b"5 x\r\n6 -1 7\x0b 8");
    assert_eq!(ran.out(), "5: 5\n6: 2 3\n8: 2 2 2\n");
    assert_eq!(
        ran.stderr,
        "worker: ‘x\\r’ is not a valid positive integer\n\
         worker: ‘-1’ is not a valid positive integer\n\
         worker: ‘7\\v’ is not a valid positive integer\n"
    );
    assert_eq!(ran.code, Some(1));
}

#[test]
fn messages_and_lines_keep_input_order_with_2_to_1() {
    let mut guard = LeakGuard::new();
    let (reader, writer) = std::io::pipe().expect("a pipe");
    let mut child = worker_cmd(&guard, &["factor", "4", "x", "9", "y", "10"])
        .stdin(Stdio::null())
        .stdout(writer.try_clone().expect("dup"))
        .stderr(writer)
        .spawn()
        .expect("worker starts");
    let both = drain(reader);
    assert_eq!(wait_within(&mut child, HANG), Some(1));
    let both = String::from_utf8(both.join().expect("reader")).expect("utf-8");
    assert_eq!(
        both,
        "4: 2 2\nworker: ‘x’ is not a valid positive integer\n9: 3 3\n\
         worker: ‘y’ is not a valid positive integer\n10: 2 5\n"
    );
    guard.assert_none_left();
}

#[test]
fn a_token_longer_than_any_buffer_is_still_one_number() {
    let mut input = b"3 +".to_vec();
    input.extend(std::iter::repeat_n(b'0', 3 << 20)); // 3 MiB of leading zeros
    input.extend(b"12 5");
    let ran = run(&["factor"], &input);
    assert_eq!((ran.code, ran.out()), (Some(0), "3: 3\n12: 2 2 3\n5: 5\n"));

    let mut input = vec![b'7'; 1 << 20];
    input.extend(b" 5");
    let ran = run(&["factor"], &input);
    assert_eq!((ran.code, ran.out()), (Some(1), "5: 5\n"));
    assert!(
        ran.stderr.contains("is too large") && ran.stderr.contains("(1048576 bytes)"),
        "{}",
        ran.stderr
    );
}

#[test]
fn answers_each_line_before_waiting_for_more_input() {
    // A coprocess: write one number, read its answer, write the next. A worker that held
    // its output until its buffer filled would hang here.
    let mut guard = LeakGuard::new();
    let mut child = worker_cmd(&guard, &["factor"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("worker starts");
    let mut input = child.stdin.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().expect("piped");
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    for (n, want) in [
        ("12", "12: 2 2 3"),
        ("2139079", "2139079: 101 21179"),
        ("1", "1:"),
    ] {
        writeln!(input, "{n}").expect("worker reads");
        let line = rx
            .recv_timeout(HANG)
            .expect("an answer without closing stdin");
        assert_eq!(line.expect("utf-8"), want);
    }
    drop(input);
    assert_eq!(wait_within(&mut child, HANG), Some(0));
    guard.assert_none_left();
}

#[test]
fn full_disk_is_a_clear_error() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        eprintln!("SKIP: /dev/full is not available");
        return;
    };
    for args in [&["factor", "12"][..], &["divisors", "12"], &["factor"]] {
        let mut guard = LeakGuard::new();
        let mut child = worker_cmd(&guard, args)
            .stdin(Stdio::piped())
            .stdout(full.try_clone().expect("dup"))
            .stderr(Stdio::piped())
            .spawn()
            .expect("worker starts");
        let mut input = child.stdin.take().expect("piped");
        let _ = input.write_all(b"12 13\n");
        drop(input);
        let err = drain(child.stderr.take().expect("piped"));
        assert_eq!(wait_within(&mut child, HANG), Some(1), "{args:?}");
        let err = String::from_utf8(err.join().expect("reader")).expect("utf-8");
        assert_eq!(
            err,
            "worker: cannot write to standard output: No space left on device (os error 28)\n"
        );
        guard.assert_none_left();
    }
}

#[test]
fn a_reader_that_goes_away_ends_the_worker_quietly() {
    // `worker factor < big | head -1`, and the same in the middle of one huge divisors line
    // (2^10 3^6 5^4 7^3 11^2 13^2 17 19 23 29 31 37 has 887 040 divisors: a 12 MB line).
    let huge: u128 = 1024 * 729 * 625 * 343 * 121 * 169 * 17 * 19 * 23 * 29 * 31 * 37;
    let cases: [(&[&str], Vec<u8>); 2] = [
        (
            &["factor"],
            (1..=2_000_000u32)
                .map(|i| format!("{i}\n"))
                .collect::<String>()
                .into_bytes(),
        ),
        (&["divisors"], format!("{huge}\n").into_bytes()),
    ];
    for (args, input) in cases {
        let mut guard = LeakGuard::new();
        let mut child = worker_cmd(&guard, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("worker starts");
        let mut stdin = child.stdin.take().expect("piped");
        let feeder = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let err = drain(child.stderr.take().expect("piped"));
        let mut out = BufReader::new(child.stdout.take().expect("piped"));
        let mut first = vec![0u8; 10];
        std::io::Read::read_exact(&mut out, &mut first).expect("some output");
        drop(out); // like `head`: stop reading and close the pipe
        let code = wait_within(&mut child, Duration::from_secs(30));
        feeder.join().expect("feeder");
        let err = String::from_utf8(err.join().expect("reader")).expect("utf-8");
        assert_eq!((code, err.as_str()), (Some(141), ""), "{args:?}");
        guard.assert_none_left();
    }
}

#[test]
fn help_explains_each_subcommand_with_an_example() {
    let ran = run(&["--help"], b"");
    assert_eq!(ran.code, Some(0));
    for word in ["factor", "divisors", "serve", "Examples:"] {
        assert!(
            ran.out().contains(word),
            "top-level help lacks {word}:\n{}",
            ran.out()
        );
    }
    for (sub, example) in [
        ("factor", "2139079: 101 21179"),
        ("divisors", "12: 1 2 3 4 6 12"),
        ("serve", "orchestrator factor"),
    ] {
        let ran = run(&[sub, "--help"], b"");
        assert_eq!(ran.code, Some(0));
        assert!(
            ran.out().contains(example),
            "`{sub} --help`:\n{}",
            ran.out()
        );
    }
    let ran = run(&["factor", "--bogus"], b"");
    assert_eq!(ran.code, Some(2));
    assert!(ran.stderr.contains("--bogus"));
}
