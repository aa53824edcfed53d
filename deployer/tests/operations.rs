//! The operator path against the local AWS, as the least-privileged deploying user: the
//! document endpoints through the local API Gateway (`documents list|get|delete`, delete by
//! filter), `search -k` beyond one QueryVectors page, index mode (a CLASSIC index refuses
//! `$startsWith` until `up --index-mode enhanced`), `logs` from the local CloudWatch Logs,
//! `doctor`, and `reindex` migrating the original stack's token-0 vectors.

mod common;

use common::*;
use serde_json::{Value, json};

fn write(env: &Env, files: &[(&str, &str)]) {
    for (path, text) in files {
        let path = env.dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

fn json_of(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn list(env: &Env) -> Vec<String> {
    env.ok(&["documents", "list"])
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn documents_index_mode_logs_doctor_and_reindex_through_the_local_aws() {
    let env = Env::start();
    // An old bucket: its indexes default to CLASSIC.
    env.aws.control(
        "POST",
        "config",
        Some(r#"{"s3vectors_default_index_mode": "CLASSIC"}"#),
    );
    let out = env.run(&["up"]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{err}");
    assert!(err.contains("is CLASSIC"), "{err}");
    env.ok(&["output", "--write-env", ".env"]);
    write(
        &env,
        &[
            (
                "a/notes.md",
                "Tesla builds electric vehicles and battery storage.",
            ),
            (
                "b/notes.md",
                "NVIDIA designs GPUs for data centres and gaming.",
            ),
            (
                "more.jsonl",
                "{\"id\": \"tsla-q3\", \"text\": \"Tesla deliveries rose.\", \"metadata\": {\"ticker\": \"TSLA\"}}\n{\"id\": \"amzn-q3\", \"text\": \"Amazon retail grew.\", \"metadata\": {\"ticker\": \"AMZN\"}}\n",
            ),
        ],
    );
    env.ok(&["ingest", "a/notes.md", "b/notes.md", "more.jsonl"]);

    // The document endpoints, through API Gateway with the key.
    assert_eq!(
        list(&env),
        ["a/notes.md", "amzn-q3", "b/notes.md", "tsla-q3"]
    );
    let doc = json_of(&env.ok(&["documents", "get", "a/notes.md", "--json"]));
    assert_eq!(doc["document_id"], "a/notes.md");
    assert_eq!(doc["embedding"], "all-MiniLM-L6-v2/mean/l2");
    assert!(
        doc["chunks"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Tesla builds")
    );
    env.ok(&["documents", "delete", "a/notes.md"]);
    let missing = env.run(&["documents", "get", "a/notes.md"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("is not stored"));
    let gone = json_of(&env.ok(&[
        "documents",
        "delete",
        "--filter",
        r#"{"ticker": "TSLA"}"#,
        "--json",
    ]));
    assert_eq!(gone["document_ids"], json!(["tsla-q3"]), "{gone}");
    assert_eq!(list(&env), ["amzn-q3", "b/notes.md"]);
    the_operator_routes_take_an_aws_identity_not_the_api_key(&env);

    // More results than one QueryVectors page is fine.
    let found = json_of(&env.ok(&["search", "technology", "-k", "150", "--json"]));
    assert_eq!(found["count"], 2, "{found}");

    // CLASSIC refuses $startsWith, as S3 Vectors does; ENHANCED (switched in place) takes it.
    let prefix = r#"{"ticker": {"$startsWith": "AM"}}"#;
    let refused = env.run(&["search", "retail", "--filter", prefix]);
    assert_eq!(refused.status.code(), Some(1));
    env.ok(&["up", "--index-mode", "enhanced"]);
    let found = json_of(&env.ok(&["search", "retail", "--filter", prefix, "--json"]));
    assert_eq!(found["results"][0]["document_id"], "amzn-q3", "{found}");

    // A bucket's encryption cannot change: asking for a KMS key now is refused, changing nothing.
    let kms = env.run(&[
        "plan",
        "--kms-key",
        "arn:aws:kms:us-east-1:123456789012:key/k1",
    ]);
    assert_eq!(kms.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&kms.stderr).contains("cannot be changed"));
    let alias = env.run(&["plan", "--kms-key", "alias/mine"]);
    assert_eq!(alias.status.code(), Some(2), "a usage error");

    // The function's log events, from the local CloudWatch Logs.
    let logs = env.ok(&["logs", "--since", "1h"]);
    assert!(logs.contains("REPORT RequestId"), "{logs}");
    assert!(logs.contains("search finished"), "{logs}");
    assert!(
        !logs.contains(&dotenv(&env)["ALEX_API_KEY"]),
        "no key in the logs"
    );

    // Healthy, as far as this identity may check (it may not simulate policies).
    let out = env.run(&["doctor"]);
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        report.contains("ok    index") && report.contains("mode ENHANCED"),
        "{report}"
    );
    assert!(report.contains("ok    drift"), "{report}");

    // An endpoint that scaled to zero and is starting is reported as such, not as broken: a
    // first call provisions it (4 s), doctor's probe meanwhile gets ModelNotReadyException.
    env.aws.control(
        "POST",
        "endpoints",
        Some(r#"{"name": "alex-embedding-endpoint", "cold": true, "cold_start_ms": 4000}"#),
    );
    let sdk = env.sdk();
    let first = std::thread::spawn(move || {
        block_on(async {
            aws_sdk_sagemakerruntime::Client::new(&sdk)
                .invoke_endpoint()
                .endpoint_name("alex-embedding-endpoint")
                .content_type("application/json")
                .body(aws_smithy_types::Blob::new(r#"{"inputs": "warm up"}"#))
                .send()
                .await
                .is_ok()
        })
    });
    std::thread::sleep(std::time::Duration::from_millis(800));
    let out = env.run(&["doctor"]);
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        report.contains("embedding") && report.contains("is starting"),
        "{report}"
    );
    assert!(!report.contains("fail  embedding"), "{report}");
    assert!(first.join().unwrap(), "the provisioning call is answered");

    // A cold start longer than the function's time budget: the function answers 503
    // EndpointStarting, and the CLI says so and sends the search again until it is answered.
    env.aws.control(
        "POST",
        "endpoints",
        Some(r#"{"name": "alex-embedding-endpoint", "cold": true, "cold_start_ms": 31000}"#),
    );
    let out = env.run(&["search", "retail", "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("embedding endpoint is starting"),
        "{stderr}"
    );
    assert!(json_of(&String::from_utf8_lossy(&out.stdout))["count"].as_u64() > Some(0));

    // A document of the original stack: one token-0 vector keyed by its id.
    let sdk = env.sdk();
    block_on(async {
        let s3v = aws_sdk_s3vectors::Client::new(&sdk);
        let meta = aws_smithy_types::Document::Object(
            [
                (
                    "text".to_string(),
                    "Microsoft Azure cloud revenue grew.".into(),
                ),
                ("source".to_string(), "original".into()),
            ]
            .into(),
        );
        s3v.put_vectors()
            .vector_bucket_name("alex-vectors-123456789012")
            .index_name("financial-research")
            .vectors(
                aws_sdk_s3vectors::types::PutInputVector::builder()
                    .key("0b7c9e2a-original")
                    .data(aws_sdk_s3vectors::types::VectorData::Float32(vec![
                        0.05;
                        384
                    ]))
                    .metadata(meta)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    });
    let report = json_of(&env.ok(&["reindex", "--segments", "2", "--json"]));
    assert_eq!(report["migrated"], 1, "{report}");
    let doc = json_of(&env.ok(&["documents", "get", "0b7c9e2a-original", "--json"]));
    assert_eq!(doc["embedding"], "all-MiniLM-L6-v2/mean/l2", "{doc}");
    assert_eq!(doc["metadata"]["source"], "original");
    // Nothing left to do.
    let again = json_of(&env.ok(&["reindex", "--json"]));
    assert_eq!(
        (again["migrated"].clone(), again["reembedded"].clone()),
        (json!(0), json!(0))
    );
}

/// The routes that delete or re-embed (`DELETE /documents/{id}`, `POST /documents/delete`,
/// `POST /documents/reindex`) are `AWS_IAM`: the API key alone gets API Gateway's 403 and
/// changes nothing; an identity without `execute-api:Invoke` on them is refused with a hint;
/// the deploying identity (README's policy) is allowed — the CLI calls above signed as it.
fn the_operator_routes_take_an_aws_identity_not_the_api_key(env: &Env) {
    let vars = dotenv(env);
    let base = vars["ALEX_API_ENDPOINT"]
        .strip_suffix("/ingest")
        .unwrap()
        .strip_prefix(&env.aws.url)
        .unwrap()
        .to_string();
    let key = vars["ALEX_API_KEY"].as_str();
    let with_key = [("x-api-key", key), ("Content-Type", "application/json")];
    for (method, path, body) in [
        (
            "POST",
            "/documents/delete",
            r#"{"filter": {"ticker": "AMZN"}}"#,
        ),
        (
            "POST",
            "/documents/reindex",
            r#"{"segment": 0, "segments": 1}"#,
        ),
        ("DELETE", "/documents/amzn-q3", ""),
    ] {
        let (status, text) = testkit::http(
            env.aws.port,
            method,
            &format!("{base}{path}"),
            &with_key,
            body,
        )
        .unwrap();
        assert_eq!(
            (status, text.as_str()),
            (403, r#"{"message": "Missing Authentication Token"}"#),
            "{method} {path} with the API key alone"
        );
    }
    // `output` names the ARNs an operator's permission needs.
    let outputs = json_of(&env.ok(&["output", "--json"]));
    let api = outputs["rest_api_id"].as_str().unwrap();
    assert_eq!(
        outputs["operator_arns"],
        json!([
            format!("arn:aws:execute-api:us-east-1:123456789012:{api}/prod/POST/documents/delete"),
            format!("arn:aws:execute-api:us-east-1:123456789012:{api}/prod/POST/documents/reindex"),
            format!("arn:aws:execute-api:us-east-1:123456789012:{api}/prod/DELETE/documents/*"),
        ])
    );
    // The key still reads.
    let (status, _) = testkit::http(
        env.aws.port,
        "GET",
        &format!("{base}/documents"),
        &with_key,
        "",
    )
    .unwrap();
    assert_eq!(status, 200);
    assert_eq!(list(env), ["amzn-q3", "b/notes.md"]);

    // Another identity of the account, without execute-api:Invoke on those methods.
    let (key_id, secret) = env.user(
        "reader",
        &json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Action": "execute-api:Invoke",
            "Resource": "arn:aws:execute-api:us-east-1:123456789012:*/prod/GET/documents"}]}),
    );
    let refused = env
        .command(&["documents", "delete", "amzn-q3"])
        .env("AWS_ACCESS_KEY_ID", &key_id)
        .env("AWS_SECRET_ACCESS_KEY", &secret)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{err}");
    assert!(
        err.contains("DELETE ")
            && err.contains("was refused (HTTP 403): User: arn:aws:iam::123456789012:user/reader is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:123456789012:")
            && err.contains("/prod/DELETE/documents/amzn-q3")
            && err.contains("hint: this route takes the operator's AWS identity"),
        "{err}"
    );
    assert_eq!(list(env), ["amzn-q3", "b/notes.md"]);
}

/// Two users ingesting at once into an account whose Lambda concurrency is 1: an invocation
/// that finds the function busy is throttled, which a REST proxy integration answers with API
/// Gateway's own 500. The CLI says so once and sends it again (jittered, for up to 60 s) until
/// it runs, so both complete; before, three attempts in 1.5 s gave up while the other user's
/// request was still embedding.
#[test]
fn a_throttled_lambda_is_waited_out_by_the_cli() {
    let env = Env::start();
    env.ok(&["up"]);
    env.aws
        .control("POST", "config", Some(r#"{"lambda_concurrency": 1}"#));
    let sentence = "The company reported quarterly revenue growth driven by cloud services and \
                    higher margins in its hardware segment, while guidance for next year rose. ";
    let mut files = Vec::new();
    for user in ["a", "b"] {
        let lines: Vec<String> = (0..40)
            .map(|i| json!({"id": format!("{user}-{i}"), "text": sentence.repeat(8)}).to_string())
            .collect();
        files.push((format!("{user}.jsonl"), lines.join("\n")));
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    write(&env, &refs);
    let children: Vec<_> = ["a.jsonl", "b.jsonl"]
        .iter()
        .map(|f| {
            env.command(&["ingest", f])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for out in &outputs {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        outputs
            .iter()
            .any(|o| String::from_utf8_lossy(&o.stderr).contains("Lambda throttled")),
        "no request was throttled: the test no longer exercises the wait"
    );
    let ids = list(&env);
    for user in ["a", "b"] {
        for i in 0..40 {
            assert!(ids.contains(&format!("{user}-{i}")), "{user}-{i} missing");
        }
    }
}

fn sync(env: &Env, args: &[&str]) -> Value {
    let mut all = vec!["sync", "--json"];
    all.extend_from_slice(args);
    json_of(&env.ok(&all))
}

fn ids(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect()
}

/// `sync` against the local AWS, as the least-privileged deploying user: a dry run changes
/// nothing; a folder of Markdown, text, PDF, HTML and DOCX files is synced (an image beside
/// them is named as skipped); a re-sync of unchanged files embeds and writes nothing and
/// lists once; an edit, a deletion and an addition are exactly those three changes; another
/// source's documents and documents ingested by hand are never deleted.
#[test]
fn sync_sends_what_changed_deletes_what_is_gone_and_reads_pdf_html_docx() {
    let env = Env::start();
    env.ok(&["up"]);
    env.ok(&["output", "--write-env", ".env"]);
    write(
        &env,
        &[
            (
                "corpus/a.md",
                "Tesla builds electric vehicles and battery storage.",
            ),
            (
                "corpus/b.md",
                "NVIDIA designs GPUs for data centres and gaming.",
            ),
            (
                "corpus/c.txt",
                "Amazon runs the largest cloud computing business.",
            ),
            ("corpus/news.html", testkit::files::HTML),
            (
                "other/x.md",
                "Pfizer develops vaccines and cancer medicines.",
            ),
        ],
    );
    let dir = env.dir.join("corpus");
    std::fs::write(
        dir.join("report.pdf"),
        testkit::files::pdf(
            &[
                "NextEra Energy builds wind farms",
                "across the Great Plains.",
            ],
            &["First Solar makes thin film", "solar panels in Ohio."],
            &["Utility scale battery storage doubled this year."],
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("review.docx"),
        testkit::files::docx(
            &[
                "Lucid Motors annual review",
                "Lucid opened a factory in Saudi Arabia.",
            ],
            &[["Quarter", "Deliveries"], ["Q1", "1,967"]],
        ),
    )
    .unwrap();
    std::fs::write(dir.join("logo.png"), [0x89, b'P', b'N', b'G']).unwrap();
    // Another source, and a document ingested by hand under the corpus's prefix.
    env.ok(&["sync", "other"]);
    write(
        &env,
        &[(
            "hand.jsonl",
            "{\"id\": \"corpus/by-hand\", \"text\": \"Ford sells pickup trucks.\"}\n",
        )],
    );
    env.ok(&["ingest", "hand.jsonl"]);

    // A dry run says what would happen, and what it costs, and sends nothing.
    let plan = sync(&env, &["corpus", "--dry-run"]);
    assert_eq!(plan["dry_run"], true);
    // The PDF's two pages are two documents (a hit cites its page).
    assert_eq!(plan["scanned"], 7, "{plan}");
    assert_eq!(ids(&plan["new"]).len(), 7, "{plan}");
    assert!(plan["estimate"]["chunks"].as_u64().unwrap() >= 7, "{plan}");
    assert!(plan["estimate"]["usd"].as_f64().unwrap() > 0.0, "{plan}");
    assert_eq!(list(&env), ["corpus/by-hand", "other/x.md"]);

    let out = env.run(&["sync", "corpus"]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("skipped 1 file") && err.contains("logo.png"),
        "{err}"
    );
    assert!(
        err.contains("7 scanned: 7 new, 0 modified, 0 unchanged, 0 deleted"),
        "{err}"
    );
    assert_eq!(
        list(&env),
        [
            "corpus/a.md",
            "corpus/b.md",
            "corpus/by-hand",
            "corpus/c.txt",
            "corpus/news.html",
            "corpus/report.pdf/page-001",
            "corpus/report.pdf/page-002",
            "corpus/review.docx",
            "other/x.md"
        ]
    );
    // Each extracted format is found by a sentence from its body, and cites its origin.
    for (query, id) in [
        (
            "NextEra Energy builds wind farms across the Great Plains",
            "corpus/report.pdf/page-001",
        ),
        (
            "Utility scale battery storage doubled this year",
            "corpus/report.pdf/page-002",
        ),
        (
            "Rivian opened forty new adventure network sites",
            "corpus/news.html",
        ),
        (
            "Lucid opened a factory in Saudi Arabia",
            "corpus/review.docx",
        ),
    ] {
        let found = json_of(&env.ok(&["search", query, "-k", "1", "--json"]));
        assert_eq!(found["results"][0]["document_id"], id, "{query}: {found}");
    }
    let hit = json_of(&env.ok(&[
        "search",
        "Utility scale battery storage doubled this year",
        "-k",
        "1",
        "--json",
    ]));
    assert_eq!(hit["results"][0]["metadata"]["page"], 2, "{hit}");
    // `documents get` by the file's id merges its pages.
    let pdf = json_of(&env.ok(&["documents", "get", "corpus/report.pdf", "--json"]));
    assert_eq!(pdf["metadata"]["format"], "pdf");
    assert_eq!(pdf["metadata"]["pages"], 2);
    assert_eq!(pdf["metadata"]["sync_source"], "corpus");

    // Unchanged: nothing embedded or written, one listing call.
    env.clear_requests();
    let again = sync(&env, &["corpus"]);
    assert_eq!(again["unchanged"], 7, "{again}");
    assert_eq!(again["listing_calls"], 1, "{again}");
    let calls = env.requests();
    let ops: Vec<&str> = calls["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["operation"].as_str().unwrap_or(""))
        .collect();
    assert!(
        !ops.iter()
            .any(|o| matches!(*o, "InvokeEndpoint" | "PutVectors" | "DeleteVectors")),
        "{ops:?}"
    );

    // One edit, one deletion, one addition: exactly those.
    write(
        &env,
        &[
            (
                "corpus/a.md",
                "Tesla builds electric vehicles, solar roofs and batteries.",
            ),
            ("corpus/d.md", "Microsoft sells cloud software and games."),
        ],
    );
    std::fs::remove_file(dir.join("b.md")).unwrap();
    let changed = sync(&env, &["corpus"]);
    assert_eq!(ids(&changed["new"]), ["corpus/d.md"], "{changed}");
    assert_eq!(ids(&changed["modified"]), ["corpus/a.md"], "{changed}");
    assert_eq!(ids(&changed["deleted"]), ["corpus/b.md"], "{changed}");
    assert_eq!(changed["unchanged"], 5, "{changed}");
    let now = list(&env);
    assert!(!now.contains(&"corpus/b.md".to_string()), "{now:?}");
    // The other source and the hand-ingested document are still there.
    assert!(now.contains(&"other/x.md".to_string()) && now.contains(&"corpus/by-hand".to_string()));
    let a = json_of(&env.ok(&["documents", "get", "corpus/a.md", "--json"]));
    assert!(
        a["chunks"][0]["text"]
            .as_str()
            .unwrap()
            .contains("solar roofs")
    );
    // --no-delete keeps what is gone.
    std::fs::remove_file(dir.join("c.txt")).unwrap();
    let kept = sync(&env, &["corpus", "--no-delete"]);
    assert!(ids(&kept["deleted"]).is_empty(), "{kept}");
    assert!(list(&env).contains(&"corpus/c.txt".to_string()));

    // A file over 1 MiB is stored in parts (`{id}/part-001…`, split by `ingest`/`sync`; unit
    // tested): `documents get` and `delete` by the file's id reach every part.
    write(
        &env,
        &[(
            "parts.jsonl",
            concat!(
                "{\"id\": \"big.md/part-001\", \"text\": \"# One\\nHonda builds hybrid engines.\", \"metadata\": {\"part_of\": \"big.md\", \"part\": 1, \"parts\": 2}}\n",
                "{\"id\": \"big.md/part-002\", \"text\": \"# Two\\nToyota builds hydrogen cars.\", \"metadata\": {\"part_of\": \"big.md\", \"part\": 2, \"parts\": 2}}\n"
            ),
        )],
    );
    env.ok(&["ingest", "parts.jsonl"]);
    let whole = json_of(&env.ok(&["documents", "get", "big.md", "--json"]));
    assert_eq!(whole["document_id"], "big.md", "{whole}");
    let texts: Vec<&str> = whole["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts.len(), 2, "{whole}");
    assert!(
        texts[0].contains("Honda") && texts[1].contains("Toyota"),
        "{texts:?}"
    );
    assert!(whole["metadata"].get("part_of").is_none(), "{whole}");
    let gone = json_of(&env.ok(&["documents", "delete", "big.md", "--json"]));
    assert_eq!(gone["deleted_documents"], 2, "{gone}");
    assert!(!list(&env).iter().any(|id| id.starts_with("big.md")));

    // A sync killed halfway, then run again: it finishes, and embeds only what the first run
    // did not store (no stored document is embedded twice).
    let files: Vec<(String, String)> = (0..40)
        .map(|i| {
            (
                format!("resume/r{i:02}.md"),
                format!("Company {i} reported revenue growth of {i} percent this quarter."),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    write(&env, &refs);
    let stored = |env: &Env| {
        list(env)
            .iter()
            .filter(|i| i.starts_with("resume/"))
            .count()
    };
    let mut first = env
        .command(&["sync", "resume", "--batch", "1", "--concurrency", "1", "-q"])
        .spawn()
        .unwrap();
    while stored(&env) < 5 {
        assert!(
            first.try_wait().unwrap().is_none(),
            "killed before it finished"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    // The request the killed CLI had in flight still runs to its end in the function (as on
    // AWS): count once nothing changes any more.
    let mut before = stored(&env);
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
        let now = stored(&env);
        if now == before {
            break;
        }
        before = now;
    }
    assert!((5..40).contains(&before), "{before}");
    env.clear_requests();
    let second = sync(&env, &["resume"]);
    assert_eq!(second["unchanged"], before, "{second}");
    assert_eq!(ids(&second["new"]).len(), 40 - before, "{second}");
    assert_eq!(stored(&env), 40);
    let embedded: usize = env.requests()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["operation"] == "InvokeEndpoint" && c["status"] == 200)
        .map(|c| c["inputs"].as_u64().unwrap_or(1) as usize)
        .sum();
    assert!(
        embedded <= 40 - before,
        "{embedded} texts embedded for {} files not stored",
        40 - before
    );
}

/// Whether the stack's bucket holds index `name`.
fn index_exists(env: &Env, name: &str) -> bool {
    let sdk = env.sdk();
    block_on(async {
        aws_sdk_s3vectors::Client::new(&sdk)
            .get_index()
            .vector_bucket_name("alex-vectors-123456789012")
            .index_name(name)
            .send()
            .await
            .is_ok()
    })
}

/// Ingests the documents the blue/green tests move: two short ones, and `c/long.md` of
/// several chunks.
fn ingest_three(env: &Env) {
    write(
        env,
        &[
            (
                "a/tesla.md",
                "Tesla builds electric vehicles and battery storage.",
            ),
            (
                "b/nvidia.md",
                "NVIDIA designs GPUs for data centres and gaming.",
            ),
            (
                "c/long.md",
                &"Cloud revenue grew again this quarter. ".repeat(60),
            ),
        ],
    );
    env.ok(&["ingest", "a", "b", "c"]);
}

/// The original course's index (every metadata key filterable, so `text` counts against the
/// 2 KB filterable limit) moved to a new index with `reindex --into`, while searches run and a
/// document is ingested; the chunk the old index refused is then stored.
#[test]
fn reindex_into_a_new_index_copies_everything_while_search_works_and_fixes_filterable_text() {
    let env = Env::start();
    let sdk = env.sdk();
    block_on(async {
        let s3v = aws_sdk_s3vectors::Client::new(&sdk);
        s3v.create_vector_bucket()
            .vector_bucket_name("alex-vectors-123456789012")
            .send()
            .await
            .unwrap();
    });
    // As the console made it: no non-filterable keys.
    create_foreign_index(&env, "financial-research");
    let up = env.run(&["up", "--adopt", "--timeout", "5"]);
    let err = String::from_utf8_lossy(&up.stderr);
    assert!(up.status.success(), "{err}");
    assert!(
        err.contains("does not declare `text` non-filterable"),
        "{err}"
    );
    env.ok(&["output", "--write-env", ".env"]);
    ingest_three(&env);
    // 1.5 KB of filterable metadata plus a 600-byte text: over 2 KB filterable here.
    let summary = "s".repeat(1_500);
    let bulky = json!({"id": "bulky", "text": "Amazon retail margins widened. ".repeat(20),
        "metadata": {"summary": summary}})
    .to_string();
    write(&env, &[("bulky.jsonl", &bulky)]);
    let refused = env.run(&["ingest", "bulky.jsonl"]);
    assert_eq!(refused.status.code(), Some(1), "the old index refuses it");
    let before = list(&env);
    assert_eq!(before.len(), 3, "{before:?}");

    // The copy, with searches running throughout and a document ingested meanwhile.
    let mut copy = env
        .command(&["reindex", "--into", "financial-research-v2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut searches = 0;
    let mut ingested = false;
    while copy.try_wait().unwrap().is_none() {
        let hits = json_of(&env.ok(&["--json", "search", "electric vehicles", "-k", "3"]));
        assert!(
            hits.to_string().contains("a/tesla.md"),
            "search answers during the copy: {hits}"
        );
        searches += 1;
        if !ingested {
            write(&env, &[("d/amd.md", "AMD sells CPUs and accelerators.")]);
            env.ok(&["ingest", "d"]);
            ingested = true;
        }
    }
    let out = copy.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(
            "switched the function from index `financial-research` to `financial-research-v2`"
        ),
        "{err}"
    );
    assert!(err.contains("is kept with its vectors"), "{err}");
    assert!(searches >= 2, "searches ran during the copy: {searches}");

    // Every document is in the new index, the one ingested during the copy too.
    let after = list(&env);
    assert_eq!(
        after,
        ["a/tesla.md", "b/nvidia.md", "c/long.md", "d/amd.md"]
    );
    let long = json_of(&env.ok(&["--json", "documents", "get", "c/long.md"]));
    assert!(long["chunks"].as_array().unwrap().len() > 1, "{long}");
    // The chunk the old index refused is stored now (`text` is non-filterable here).
    env.ok(&["ingest", "bulky.jsonl"]);
    // The old index is kept; `up` keeps the new one (the setting stuck).
    assert!(index_exists(&env, "financial-research"));
    let toml = std::fs::read_to_string(env.dir.join("alex.toml")).unwrap();
    assert!(
        toml.contains("index_name = \"financial-research-v2\""),
        "{toml}"
    );
    let plan = env.ok(&["plan"]);
    assert!(!plan.contains("INDEX_NAME"), "{plan}");
    env.ok(&["up"]);
    assert_eq!(list(&env).len(), 5);
    // Run again: it has switched already; nothing is copied twice.
    let again = env.run(&["reindex", "--into", "financial-research-v2"]);
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{err}");
    assert!(
        err.contains("already serves index `financial-research-v2`"),
        "{err}"
    );
    let out = env.run(&["reindex", "--into", "financial-research-v2", "--drop-old"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("nothing is deleted"), "{err}");
    assert!(index_exists(&env, "financial-research"));

    // Once more, dropping the index it leaves: v2 goes, v3 holds everything.
    let out = env.run(&["reindex", "--into", "financial-research-v3", "--drop-old"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("`financial-research-v2` was deleted"), "{err}");
    assert!(!index_exists(&env, "financial-research-v2"));
    assert!(
        index_exists(&env, "financial-research"),
        "an index it did not leave stays"
    );
    assert_eq!(list(&env).len(), 5);
    let hits = json_of(&env.ok(&["--json", "search", "retail margins", "-k", "1"]));
    assert!(hits.to_string().contains("bulky"), "{hits}");
    // An index someone else made is refused and left as it is; the function stays on v3.
    create_foreign_index(&env, "someone-else");
    let out = env.run(&["reindex", "--into", "someone-else"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("this stack did not create it"), "{err}");
    assert!(index_exists(&env, "someone-else"));
    // Back to the original (the stack's, adopted) index: it would refuse long texts.
    let out = env.run(&["reindex", "--into", "financial-research"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("does not declare `text` non-filterable"),
        "{err}"
    );
    assert_eq!(list(&env).len(), 5);
}

/// As the administrator, README's "Changing the model": the permissions boundary and the
/// deploying policy allow InvokeEndpoint on `endpoint` beside the stack's (new default
/// versions of both managed policies).
fn allow_endpoint(env: &Env, endpoint: &str) {
    let stack = "\"arn:aws:sagemaker:*:123456789012:endpoint/alex-embedding-endpoint\"";
    let both = format!("[{stack}, \"arn:aws:sagemaker:*:123456789012:endpoint/{endpoint}\"]");
    let sdk = env.sdk();
    block_on(async {
        let iam = aws_sdk_iam::Client::new(&sdk);
        for (name, file) in [
            ("alex-ingest-boundary", "boundary-policy.json"),
            ("alex-deployer", "deployer-policy.json"),
        ] {
            let document = policy_document(file);
            assert!(document.contains(stack), "{file} names the endpoint");
            iam.create_policy_version()
                .policy_arn(format!("arn:aws:iam::123456789012:policy/{name}"))
                .policy_document(document.replace(stack, &both))
                .set_as_default(true)
                .send()
                .await
                .unwrap();
        }
    });
}

/// Texts embedded by `endpoint` since the log was cleared.
fn embedded_by(env: &Env, endpoint: &str) -> usize {
    env.requests()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["operation"] == "InvokeEndpoint" && c["status"] == 200)
        .filter(|c| c["endpoint"] == endpoint)
        .map(|c| c["inputs"].as_u64().unwrap_or(0) as usize)
        .sum()
}

/// A model change: `reindex --into NEW --embedding-endpoint OTHER` embeds every chunk again from
/// its stored text through another model's endpoint (256 dimensions), a document ingested
/// during the copy too; then the function embeds and searches with the new model, and `up`
/// keeps it. Refused, changing nothing, until the administrator allows the endpoint; an index
/// holding another model's vectors is never filled with the new one's.
#[test]
fn reindex_into_with_another_model_embeds_everything_again_and_switches_the_model() {
    let env = Env::start();
    let small = "alex-small-endpoint";
    env.aws.control(
        "POST",
        "endpoints",
        Some(&json!({"name": small, "dimension": 256}).to_string()),
    );
    env.ok(&["up", "--timeout", "5"]);
    env.ok(&["output", "--write-env", ".env"]);
    ingest_three(&env);
    let chunks: usize = ["a/tesla.md", "b/nvidia.md", "c/long.md"]
        .iter()
        .map(|id| {
            let doc = json_of(&env.ok(&["--json", "documents", "get", id]));
            doc["chunks"].as_array().unwrap().len()
        })
        .sum();
    assert!(chunks > 3, "the long document has several chunks");
    let new = [
        "reindex",
        "--into",
        "research-small",
        "--embedding-endpoint",
        small,
    ];

    // The deploying identity may not invoke the new endpoint yet: nothing changes.
    let out = env.run(&new);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("Changing the model"), "{err}");
    assert!(!index_exists(&env, "research-small"));

    allow_endpoint(&env, small);
    // IAM applies the change late; a dimension the endpoint does not answer is refused.
    let started = std::time::Instant::now();
    loop {
        let out = env.run(&[&new[..], &["--dimension", "300"][..]].concat());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        if err.contains("returns 256-dimensional vectors, not 300") {
            break;
        }
        assert!(started.elapsed().as_secs() < 60, "{err}");
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert!(!index_exists(&env, "research-small"));

    env.clear_requests();
    let copy = env
        .command(&new)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    write(&env, &[("d/amd.md", "AMD sells CPUs and accelerators.")]);
    env.ok(&["ingest", "d"]);
    let out = copy.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("embedded again with alex-small-endpoint (256 dims)"),
        "{err}"
    );
    // Every chunk went through the new model (the one ingested meanwhile too).
    assert!(embedded_by(&env, small) > chunks, "{err}");
    let sdk = env.sdk();
    let dimension = block_on(async {
        aws_sdk_s3vectors::Client::new(&sdk)
            .get_index()
            .vector_bucket_name("alex-vectors-123456789012")
            .index_name("research-small")
            .send()
            .await
            .unwrap()
            .index
            .unwrap()
            .dimension
    });
    assert_eq!(dimension, 256);
    assert_eq!(
        list(&env),
        ["a/tesla.md", "b/nvidia.md", "c/long.md", "d/amd.md"]
    );

    // The function now embeds queries and documents with the new model.
    env.clear_requests();
    let hits = json_of(&env.ok(&["--json", "search", "electric cars", "-k", "1"]));
    assert!(hits.to_string().contains("a/tesla.md"), "{hits}");
    let hits = json_of(&env.ok(&["--json", "search", "processors", "-k", "1"]));
    assert!(hits.to_string().contains("d/amd.md"), "{hits}");
    assert_eq!(embedded_by(&env, small), 2);
    assert_eq!(embedded_by(&env, "alex-embedding-endpoint"), 0);
    let toml = std::fs::read_to_string(env.dir.join("alex.toml")).unwrap();
    for line in [
        "index_name = \"research-small\"",
        "embedding_endpoint = \"alex-small-endpoint\"",
        "dimension = \"256\"",
    ] {
        assert!(toml.contains(line), "{toml}");
    }
    let plan = env.ok(&["plan"]);
    for var in [
        "INDEX_NAME",
        "SAGEMAKER_ENDPOINT",
        "EMBEDDING_DIMENSION",
        "MIRROR",
    ] {
        assert!(!plan.contains(var), "{plan}");
    }
    env.ok(&["up"]);
    assert_eq!(list(&env).len(), 4);

    // Back to the first model, into the index it left: that index's vectors are not recorded
    // as the first model's, and vectors embedded again are compared by their metadata, so it
    // is refused; the function stays as it is.
    let out = env.run(&[
        "reindex",
        "--into",
        "financial-research",
        "--embedding-endpoint",
        "alex-embedding-endpoint",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("would mix two models"), "{err}");
    let hits = json_of(&env.ok(&["--json", "search", "electric cars", "-k", "1"]));
    assert!(hits.to_string().contains("a/tesla.md"), "{hits}");
}

/// The index's write quotas made tight (S3 Vectors answers 429 TooManyRequestsException over
/// them): the function's SDK backs off and retries, then answers 503 `Retry-After`, which the
/// CLI honours. A sync and a blue/green copy both finish with every document and no failure,
/// and the quota did bite.
#[test]
fn writes_over_the_index_write_quota_are_paced_and_nothing_is_lost() {
    let env = Env::start();
    env.ok(&["up", "--timeout", "5"]);
    env.ok(&["output", "--write-env", ".env"]);
    env.aws.control(
        "POST",
        "config",
        // As AWS's 2,500 vectors/s to 500 per PutVectors: room for the largest single write.
        Some(r#"{"s3vectors_write_vectors_per_sec": 40, "s3vectors_write_requests_per_sec": 2}"#),
    );
    let files: Vec<(String, String)> = (0..24)
        .map(|i| {
            let text = format!("Quarterly note {i} on revenue, margins and demand. ").repeat(40);
            (format!("notes/n{i:02}.md"), text)
        })
        .collect();
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    write(&env, &files);
    env.clear_requests();
    let report = sync(&env, &["notes", "--batch", "1", "--concurrency", "4"]);
    assert_eq!(ids(&report["new"]).len(), 24, "{report}");
    assert_eq!(report["failures"], json!([]), "{report}");
    let throttled = |env: &Env| {
        env.requests()["requests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["operation"] == "PutVectors" && c["status"] == 429)
            .count()
    };
    assert!(throttled(&env) > 0, "the quota bit during the sync");
    assert_eq!(list(&env).len(), 24);

    env.clear_requests();
    let out = env.run(&[
        "reindex",
        "--into",
        "financial-research-v2",
        "--segments",
        "4",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(throttled(&env) > 0, "the quota bit during the copy: {err}");
    assert_eq!(list(&env).len(), 24, "every document is in the new index");
}

/// `sync s3://bucket/prefix` as the deploying user: refused (with the hint) until the user
/// holds only `deployer/sync-source-policy.json` for that prefix; then the prefix's readable
/// objects are synced (an image named as skipped, another prefix never read), and an object
/// removed from S3 is deleted from the index by the next sync.
#[test]
fn sync_reads_an_s3_prefix_with_read_access_to_it_only() {
    let env = Env::start();
    env.ok(&["up"]);
    env.ok(&["output", "--write-env", ".env"]);
    let sdk = env.sdk();
    let s3_config = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(true)
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(s3_config);
    let put = |key: &str, body: &[u8]| {
        block_on(
            s3.put_object()
                .bucket("research-src")
                .key(key)
                .body(aws_sdk_s3::primitives::ByteStream::from(body.to_vec()))
                .send(),
        )
        .unwrap();
    };
    block_on(s3.create_bucket().bucket("research-src").send()).unwrap();
    put(
        "notes/tsla.md",
        b"Tesla delivered more electric vehicles than expected.",
    );
    put(
        "notes/web/page.html",
        b"<html><body><nav>Home</nav><p>NVIDIA data centre revenue doubled.</p></body></html>",
    );
    put("notes/logo.png", b"\x89PNG");
    put("private/salaries.md", b"Nobody may read this.");

    let refused = env.run(&["sync", "s3://research-src/notes/"]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{err}");
    assert!(err.contains("AccessDenied"), "{err}");
    assert!(
        err.contains("hint: reading s3://research-src/notes/ needs s3:ListBucket"),
        "{err}"
    );
    assert!(list(&env).is_empty());

    let policy = policy_document("sync-source-policy.json")
        .replace("SOURCE_BUCKET", "research-src")
        .replace("SOURCE_PREFIX", "notes/");
    block_on(
        aws_sdk_iam::Client::new(&sdk)
            .put_user_policy()
            .user_name("deployer")
            .policy_name("sync-source")
            .policy_document(policy)
            .send(),
    )
    .unwrap();
    // IAM applies the change late, as AWS does.
    let started = std::time::Instant::now();
    let report = loop {
        let out = env.run(&["sync", "--json", "s3://research-src/notes/"]);
        if out.status.success() {
            break json_of(&String::from_utf8_lossy(&out.stdout));
        }
        assert!(
            started.elapsed().as_secs() < 60,
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    assert_eq!(
        ids(&report["new"]),
        [
            "research-src/notes/tsla.md",
            "research-src/notes/web/page.html"
        ],
        "{report}"
    );
    let doc = json_of(&env.ok(&[
        "documents",
        "get",
        "research-src/notes/web/page.html",
        "--json",
    ]));
    let text = doc["chunks"][0]["text"].as_str().unwrap();
    assert!(text.contains("NVIDIA data centre revenue doubled") && !text.contains("Home"));
    assert_eq!(
        doc["metadata"]["sync_source"], "s3://research-src/notes/",
        "{doc}"
    );
    let hits = json_of(&env.ok(&["--json", "search", "electric vehicle deliveries", "-k", "1"]));
    assert!(
        hits.to_string().contains("research-src/notes/tsla.md"),
        "{hits}"
    );
    assert!(!list(&env).iter().any(|id| id.contains("private")));

    // Gone from S3: deleted from the index; the rest unchanged.
    block_on(
        s3.delete_object()
            .bucket("research-src")
            .key("notes/tsla.md")
            .send(),
    )
    .unwrap();
    let again = sync(&env, &["s3://research-src/notes/"]);
    assert_eq!(
        ids(&again["deleted"]),
        ["research-src/notes/tsla.md"],
        "{again}"
    );
    assert_eq!(again["unchanged"], 1, "{again}");
    assert_eq!(list(&env), ["research-src/notes/web/page.html"]);
}
