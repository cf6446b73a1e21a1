//! `ops-notify watch` and `digest` over a catalog: a broken promise is told once, its
//! recovery once, a storm of flips sends a bounded number of messages, and the digest
//! says what is proven.

mod common;
use common::*;
use testkit::receivers::{HttpReceiver, SmtpReceiver, SENTINEL_SMTP_PASSWORD, SMTP_USER};

/// The policy flags: no off-site copy and no port audit expected in these catalogs.
const POLICY: [&str; 2] = ["--no-offsite", "--no-audit"];

fn watch(lab: &Lab, extra: &[&str]) -> std::process::Output {
    let catalog = lab.catalog();
    let mut args = vec!["watch", "--backup-dir", catalog.to_str().unwrap()];
    args.extend(POLICY);
    args.extend(extra);
    lab.run(&args)
}

#[test]
fn a_broken_promise_is_told_once_its_recovery_once_and_the_digest_on_schedule() {
    let lab = Lab::new();
    let http = HttpReceiver::start(None);
    let smtp = SmtpReceiver::start();
    lab.targets(&[
        format!("json://{}", http.url("/svc/json/watch")),
        format!(
            "failure,recovery,digest=mailto://{SMTP_USER}:{SENTINEL_SMTP_PASSWORD}@localhost:{}?to=ops@example.org&from=pgops@db1.example.org&ca_file={}",
            smtp.starttls_port,
            smtp.ca_file().display()
        ),
    ]);
    // The only good set is three days old: the backup promise is broken.
    let (old, old_at) = id_hours_ago(72);
    good_set(&lab.catalog(), "shop", &old, &old_at);
    let out = watch(&lab, &["--digest", "daily@08:00"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stdout));
    let got = messages(&http.requests());
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0]["kind"], "failure");
    let subject = got[0]["subject"].as_str().unwrap();
    // Two promises broke at once, in one message: the backup is stale, and losing the
    // host now would lose three days (over the 30 h RPO).
    assert!(
        subject.contains("BROKEN on ")
            && subject.contains("backup_fresh broken, rpo_within_target broken"),
        "{subject}"
    );
    let text = got[0]["text"].as_str().unwrap();
    assert!(
        text.contains("* backup_fresh broken: shop: the newest good set"),
        "{text}"
    );
    assert!(
        text.contains("* rpo_within_target broken: shop: losing the host now would lose"),
        "{text}"
    );
    assert!(got[0]["runbook"]
        .as_str()
        .unwrap()
        .ends_with("incident-alerts.md#pgopsbackupstale"));
    assert!(got[0]["text"]
        .as_str()
        .unwrap()
        .contains(&format!("shop: newest good set {old} (3 d old)")));
    // Unchanged: not told again.
    let out = watch(&lab, &["--digest", "daily@08:00"]);
    assert!(named(&events(&out), "notify.sent").is_empty());
    assert_eq!(messages(&http.requests()).len(), 1);

    // A fresh set passes: the promise is kept again, told once.
    let (new, new_at) = id_hours_ago(1);
    good_set(&lab.catalog(), "shop", &new, &new_at);
    let out = watch(&lab, &["--min-interval", "0s", "--digest", "daily@08:00"]);
    assert_eq!(code(&out), 0);
    let got = messages(&http.requests());
    assert_eq!(got.len(), 2);
    assert_eq!(got[1]["kind"], "recovery");
    assert!(got[1]["subject"]
        .as_str()
        .unwrap()
        .contains("backup_fresh kept again"));

    // The next day's watch sends the digest (the first watch started the schedule).
    let catalog = lab.catalog();
    let mut args = vec![
        "watch",
        "--backup-dir",
        catalog.to_str().unwrap(),
        "--digest",
        "daily@08:00",
    ];
    args.extend(POLICY);
    let out = lab.later("+1d", &args);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stdout));
    let got = messages(&http.requests());
    let digest = got
        .iter()
        .find(|m| m["kind"] == "digest")
        .expect("a digest");
    assert!(digest["subject"]
        .as_str()
        .unwrap()
        .starts_with("[pgops] daily digest for "));
    assert!(digest["text"]
        .as_str()
        .unwrap()
        .contains(&format!("shop: newest good set {new}")));
    // The same by mail: failure, recovery and digest, each as a person reads it.
    let mails = smtp.wait_for_mails(3, std::time::Duration::from_secs(10));
    let subjects: Vec<String> = mails
        .iter()
        .map(|m| {
            m["data"]
                .as_str()
                .unwrap()
                .lines()
                .find(|l| l.starts_with("Subject: "))
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(subjects.len(), 3, "{subjects:#?}");
    assert!(
        subjects[0].contains("BROKEN")
            && subjects[1].contains("recovered")
            && subjects[2].contains("digest"),
        "{subjects:#?}"
    );
    // For the closing note: the messages as received.
    if let Ok(dir) = std::env::var("PGOPS_NOTIFY_SAMPLES") {
        for (i, m) in mails.iter().enumerate() {
            std::fs::write(
                format!("{dir}/watch-mail-{i}.eml"),
                m["data"].as_str().unwrap(),
            )
            .unwrap();
        }
    }
    // `digest` on demand.
    let out = lab.run(&[
        "digest",
        "--backup-dir",
        catalog.to_str().unwrap(),
        "--no-offsite",
        "--no-audit",
    ]);
    assert_eq!(code(&out), 0);
    assert_eq!(messages(&http.requests()).last().unwrap()["kind"], "digest");
    lab.assert_state_holds_no_secret();
}

#[test]
fn a_hundred_flips_in_a_minute_send_a_bounded_number_of_messages() {
    let lab = Lab::new();
    let http = HttpReceiver::start(None);
    lab.targets(&[format!("json://{}", http.url("/svc/json/storm"))]);
    let (id, at) = id_hours_ago(1);
    let set = good_set(&lab.catalog(), "shop", &id, &at);
    let started = std::time::Instant::now();
    let mut held = 0;
    for i in 0..100 {
        // The verification flips between failed and passed, a watch after each.
        set_verdict(
            &set,
            "shop",
            &id,
            if i % 2 == 0 { "fail" } else { "pass" },
            &at,
        );
        let out = watch(&lab, &[]);
        assert_eq!(code(&out), 0);
        held += named(&events(&out), "notify.held").len();
    }
    assert!(
        started.elapsed().as_secs() < 60,
        "100 flips within a minute"
    );
    let got = messages(&http.requests());
    assert!(
        !got.is_empty() && got.len() <= 2,
        "{} messages for 100 flips: {got:#?}",
        got.len()
    );
    assert!(held >= 90, "the changes held are reported ({held})");
    if let Ok(dir) = std::env::var("PGOPS_NOTIFY_SAMPLES") {
        let took = started.elapsed().as_secs_f64();
        let line = format!(
            "100 flips in {took:.1} s: {} message(s) sent, {held} change(s) held\n",
            got.len()
        );
        std::fs::write(format!("{dir}/storm.txt"), line).unwrap();
    }
    // After --min-interval the watch tells the state then, once, with the flips counted.
    let catalog = lab.catalog();
    let mut args = vec!["watch", "--backup-dir", catalog.to_str().unwrap()];
    args.extend(POLICY);
    let out = lab.later("+16m", &args);
    assert_eq!(code(&out), 0);
    let got = messages(&http.requests());
    let last = got.last().unwrap();
    assert_eq!(last["kind"], "recovery", "{last:#}");
    assert!(
        last["text"]
            .as_str()
            .unwrap()
            .contains("times since you were last told"),
        "{last:#}"
    );
    assert!(got.len() <= 3);
}
