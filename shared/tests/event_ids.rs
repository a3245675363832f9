//! Event ids are stored in production, where they deduplicate redeliveries: they must never
//! change. Pinned here as the first implementation computed them (SHA-256 over family, message
//! id, key and the fragment in canonical form, built through `serde_json::Value`), for every
//! fixture and for inputs at the edges of the canonical form: key order, repeated keys, numbers
//! beyond `u64`/`i64`/`f64`, escapes, lone surrogates, serde_json's private raw-value key, and
//! nesting around serde_json's limit of 128.

use shared::domain::parse_delivery;

const FIXTURE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/insider/");

/// Every fixture, by file stem: (family, id) of each event in order.
const FIXTURES: &[(&str, &[(&str, &str)])] = &[
    (
        "accepted",
        &[("accepted", "2038178d6fff32a50d6ec33c2fedc199")],
    ),
    ("error", &[("error", "e1125dcfa18238b759e6b2ff5e5e2bcd")]),
    (
        "error_access_denied_131005",
        &[("error", "dc97868a97fd521200b78b571201fc14")],
    ),
    (
        "error_auth_0",
        &[("error", "541eedc84513dd491e7a66a8682fefed")],
    ),
    (
        "error_blocked_368",
        &[("error", "3aa226253133859e11d61193d7d93ef0")],
    ),
    (
        "error_rate_limit_130429",
        &[("error", "58d5651ebaeb82dc0239b4cdc4b5fcdc")],
    ),
    (
        "error_spam_131048",
        &[("error", "35c37d37c9581b76646472ada8932185")],
    ),
    (
        "error_token_expired_190",
        &[("error", "68de03641bb3e01f29275975a64e7c0b")],
    ),
    (
        "error_with_error_data",
        &[("error", "58d5651ebaeb82dc0239b4cdc4b5fcdc")],
    ),
    (
        "meta_unknown_field_change",
        &[("unknown", "dd7ef7094ebf35decde1b8d4ffcc9270")],
    ),
    (
        "multi_entry_batch",
        &[
            ("status", "f9284bb9a4a87cb5c741f2fece0bf384"),
            ("status", "f2948da2c5e11211683c500cb753011d"),
            ("reply", "025fb80c41a6d4f5007b4b9cb4338d16"),
            ("status", "f2622704a09291cdf87bd94d23349ddd"),
            ("reply", "0538f801e03bcdf722f7da66563972af"),
            ("reply", "ab415e9ac9a9968c87ba099c32f05165"),
        ],
    ),
    (
        "on_premise_error_2000",
        &[("on_premise_error", "56ec4931d074d11d1457b659213e6ca3")],
    ),
    (
        "on_premise_error_2060",
        &[("on_premise_error", "cd9d94e96a986e77375e405dbdb413c3")],
    ),
    (
        "on_premise_error_402",
        &[("on_premise_error", "9faf45adc4239a0d4e1a8a44dcc5e34d")],
    ),
    (
        "on_premise_error_408",
        &[("on_premise_error", "828fc8c8bb191f150e7bfe913244751d")],
    ),
    (
        "on_premise_error_429",
        &[("on_premise_error", "91dc40a1fb3ab17aa93c852d02c40089")],
    ),
    (
        "on_premise_error_500",
        &[("on_premise_error", "45e5248e29d01f0ddb268b0371ea37b7")],
    ),
    (
        "reply_audio",
        &[("reply", "6200f5af1e22f3e1f0434726e9a2f191")],
    ),
    (
        "reply_button",
        &[("reply", "1b4a3229b97b73497dbb444f19f8709e")],
    ),
    (
        "reply_contacts",
        &[("reply", "6f59188f572c246c2eb370b8231a0cbc")],
    ),
    (
        "reply_document",
        &[("reply", "148d2e398572399d972f6cc776ee0b22")],
    ),
    (
        "reply_image",
        &[("reply", "aca76233dc63e034cdc464a1bc6ac7ee")],
    ),
    (
        "reply_interactive_button_reply",
        &[("reply", "26c4934c28742999e4ea6567b9f26441")],
    ),
    (
        "reply_interactive_list_reply",
        &[("reply", "96c439b41d171b2076af1bff093ce620")],
    ),
    (
        "reply_location",
        &[("reply", "bd89f38347caf42a486000628cdf3357")],
    ),
    (
        "reply_order",
        &[("reply", "40011eb62ba58c75bc01273e01c08c61")],
    ),
    (
        "reply_reaction",
        &[("reply", "06747a99af622a753000a058620e300f")],
    ),
    (
        "reply_sticker",
        &[("reply", "2e4bf3e6f35818ee035dc9086767434b")],
    ),
    (
        "reply_system",
        &[("reply", "5852328624c8852464f5028b4f968bb5")],
    ),
    (
        "reply_text",
        &[("reply", "07b3e3d7aba7cee105e414b5cd610931")],
    ),
    (
        "reply_text_with_key",
        &[("reply", "66ef1145fd6a47aa61e38da6f216825c")],
    ),
    (
        "reply_unsupported",
        &[("reply", "ce435957eb619558e634c4db1d393608")],
    ),
    (
        "reply_video",
        &[("reply", "cb6a3eaea3ccad9de686cd76edb81773")],
    ),
    (
        "reply_with_referral",
        &[("reply", "5af5dbaca360ce76d02cdbaf05f6c2e9")],
    ),
    (
        "status_delivered",
        &[("status", "da4c1b4648686f0ca13dbe7999716231")],
    ),
    (
        "status_delivered_and_failed",
        &[
            ("status", "cbacbd4b0de1d3e21fd85de9a290817f"),
            ("status", "78c11522bfff4637bca288beeb6853cd"),
        ],
    ),
    (
        "status_failed",
        &[("status", "003a77372085b14995752d4989672ddf")],
    ),
    (
        "status_failed_with_error_data",
        &[("status", "0b82baaad6f1caf37c1899aa4ebbd438")],
    ),
    (
        "status_out_of_order_read",
        &[
            ("status", "ab82f4fc814be4f04ce69c847bb63b77"),
            ("status", "fa85c3b244e157dd30022d1cda138e4f"),
        ],
    ),
    (
        "status_read",
        &[("status", "6dc41d10c3d7cae344de92897fc9c6c7")],
    ),
    (
        "status_sent",
        &[("status", "5fd7f544bf6a9a79f882f9e5fbc6a92b")],
    ),
    (
        "status_unknown_name",
        &[("status", "a05326bf736767900611d9a1481ad7a3")],
    ),
    (
        "status_with_pricing",
        &[("status", "d43442c7c2fca1636637b1d06a0d8017")],
    ),
    (
        "template",
        &[("template", "2fcc6ba72708fbdb761ab7b55cb6e755")],
    ),
    (
        "unknown_shape",
        &[("unknown", "50d62d56a70f70b78b32cbdbfff27ee1")],
    ),
    (
        "unknown_shape_with_key",
        &[("unknown", "13fa46a138d6f571415fdbebed124a79")],
    ),
];

/// Bodies at the edges of the canonical form, each with the (family, id) of its events.
const EDGES: &[(&str, &[(&str, &str)])] = &[
    (r#"{}"#, &[("unknown", "75c5dd7a7fcc63652e23a4d892069f54")]),
    (
        r#"{"b":1,"a":2,"":3,"é":4,"Z":5,"z":6,"aa":7}"#,
        &[("unknown", "44b83407143c7b0cccb45ff38efd8b42")],
    ),
    (
        r#"{"a":1,"a":2,"b":{"c":true,"c":false}}"#,
        &[("unknown", "7ff07c8f2023b402b0aa38c3406c8601")],
    ),
    (
        r#"{"n":-0,"f":1.0,"e":1e2,"E":-1.5E-7,"big":18446744073709551616,"neg":-9223372036854775809,"tiny":5e-324,"p":1.5e300,"x":0.1,"i":-42,"u":18446744073709551615,"m":-9223372036854775808}"#,
        &[("unknown", "be8c6b9572f10f7e89d6b2657634919b")],
    ),
    (
        r#"{"huge":1e400}"#,
        &[("unknown", "46b351a0d38e82a43bd9a3625d478a77")],
    ),
    (
        r#"{"s":"\ud800"}"#,
        &[("unknown", "ac21d7b846bed9c8fbe8bd800280073b")],
    ),
    (
        r#"{"s":"\udc00x"}"#,
        &[("unknown", "122876dedb79db1b8057d6fb09be164b")],
    ),
    (
        r#"{"s":"\ud83d\ude00 \u00e9\"\\\/\b\f\n\r\t\u0001\u001f\u007f\u2028 ü 😀"}"#,
        &[("unknown", "a9a93b6dc47bf3bbf98897fcfc265ffa")],
    ),
    (
        r#"{"$serde_json::private::RawValue":"{\"b\":1,\"a\":[1,2]}"}"#,
        &[("unknown", "112b35399b668cff6c8e1021788e9909")],
    ),
    (
        r#"{"$serde_json::private::RawValue":"nope"}"#,
        &[("unknown", "8f62d7cdba4d5c6b7e15e1537461d8ab")],
    ),
    (
        r#"{"$serde_json::private::RawValue":"1","x":2}"#,
        &[("unknown", "1495bf9ce7466d26af34a1e1e35e2761")],
    ),
    (
        r#"{"$serde_json::private::RawValue":5}"#,
        &[("unknown", "60fa8b7113064fe1f35f39ea13780eea")],
    ),
    (
        r#"{"a":{"$serde_json::private::RawValue":"{\"z\":1,\"y\":2}"},"b":[{"$serde_json::private::RawValue":"[1e400]"}]}"#,
        &[("unknown", "6efcf7d78b57253785ef331445ef9a49")],
    ),
    (
        r#"{"a":{"$serde_json::private::RawValue":"{\"z\":1,\"y\":2}"},"b":[{"$serde_json::private::RawValue":"[3.0e0]"}]}"#,
        &[("unknown", "2bb7cb0bcd82f518613ab811a455e8c2")],
    ),
    (
        r#"{"x":1,"$serde_json::private::RawValue":"2"}"#,
        &[("unknown", "8ebf45ddf031ea3186f74eab14cbc0af")],
    ),
    (
        r#"{"\u0024serde_json::private::RawValue":"{\"q\":[]}"}"#,
        &[("unknown", "91c9001d5c788feb88126597a768af52")],
    ),
    (
        "{\n  \"k\" : [ 1 , { } , [ ] , null , true , false , \"\" ]\n}",
        &[("unknown", "8e2bbd0f35bfa0a527c9a5e8fe9f2bd7")],
    ),
    (
        r#"{"entry":[{"changes":[{"value":{"statuses":[{"id":1e2,"status":"sent","b":{"y":1,"x":[true,false,null]}},{"id":"w\u0041","status":"read","z":1e400}],"messages":[{"id":"m1","from":"1","type":"text","text":{"body":"\ud800"}}]}}]},{"id":"e2"},{"changes":[{"value":{"other":{"b":2,"a":1}}}]}],"key":"k\u00e9"}"#,
        &[
            ("status", "8f4826b2db6b0e50e6cc04bd3ec3fc54"),
            ("status", "ed1162970a038f207142f9d268877d2c"),
            ("reply", "6e4130c82d5ea58c208ca42de906e293"),
            ("unknown", "122abfb41e91c808f1cdf1137c2e076b"),
            ("unknown", "23f346cac6a8b997ccc62951e7aa2ab9"),
        ],
    ),
    (
        r#"{"messages":[{"id":"wamid.1"},{"id":2}],"contacts":[{"wa_id":"9","input":"+9"}],"key":"whatsapp-1","z":{"b":[],"a":{}}}"#,
        &[
            ("accepted", "19f5cd71913f1274c99b0f42beb37324"),
            ("accepted", "fa24d368005aa29d8236ea54d93c975e"),
        ],
    ),
    (
        r#"{"error":{"code":"131047","message":"Re-engagement"},"key":""}"#,
        &[("error", "b66f40137f1fbfebd2e334621392b88d")],
    ),
    (
        r#"{"errors":[{"code":1.5e1},{"code":"7"}],"b":-0.0}"#,
        &[("on_premise_error", "1a72689f82a2f064cdd4b68e5797a194")],
    ),
    (
        r#"{"type":"template","to":905551112233,"timestamp":"  17 ","template":{"name":"t","z":[1,2],"a":null}}"#,
        &[("template", "bd8d2f2dda0b8513c6531b3daa7830e3")],
    ),
];

/// Nesting depth (arrays in an unknown object, objects in a status), then the ids of those two.
const DEEP: &[(usize, &str, &str)] = &[
    (
        126,
        "6c017d54112c0f2784af31e894711d35",
        "fa0c6ff22a8ab4a17089ba0dbaa2a238",
    ),
    (
        127,
        "b63bdecf8ad2f7e3aa245ec887a1225f",
        "01447066e343378987ef3027d5fc9bff",
    ),
    (
        128,
        "903a193f64b771f215986043cf031b7a",
        "7401bb5ad7877dcf474247969c70f49d",
    ),
    (
        129,
        "1d87eeadad212514e205be8969a2e634",
        "60604d684ac1e0e10be9f2531bae6194",
    ),
    (
        200,
        "b8412357628c99b371535b3b6dd0a4f5",
        "6262039d8f56dba53ad64c53e18f7737",
    ),
];

fn ids(body: &[u8]) -> Vec<(String, String)> {
    parse_delivery(body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
        .into_iter()
        .map(|e| (e.family.as_str().to_owned(), e.id))
        .collect()
}

fn pinned(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|&(family, id)| (family.to_owned(), id.to_owned()))
        .collect()
}

#[test]
fn every_fixture_keeps_its_event_ids() {
    let mut stems: Vec<String> = std::fs::read_dir(FIXTURE_DIR)
        .expect("the fixture folder")
        .map(|entry| entry.expect("a fixture folder entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    stems.sort();
    let pinned_stems: Vec<&str> = FIXTURES.iter().map(|(stem, _)| *stem).collect();
    assert_eq!(
        stems, pinned_stems,
        "a fixture was added or removed: pin its ids"
    );
    for (stem, expected) in FIXTURES {
        let body = std::fs::read(format!("{FIXTURE_DIR}{stem}.json")).expect("a fixture");
        assert_eq!(ids(&body), pinned(expected), "{stem}");
    }
}

#[test]
fn edge_cases_keep_their_event_ids() {
    for (body, expected) in EDGES {
        assert_eq!(ids(body.as_bytes()), pinned(expected), "{body}");
    }
}

#[test]
fn deep_nesting_keeps_its_event_ids() {
    for &(depth, unknown, status) in DEEP {
        let arrays = format!("{{\"d\":{}{}}}", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(
            ids(arrays.as_bytes()),
            pinned(&[("unknown", unknown)]),
            "{depth}"
        );
        let objects = format!(
            "{{\"entry\":[{{\"changes\":[{{\"value\":{{\"statuses\":[{{\"id\":\"w\",\"d\":{}1{}}}]}}}}]}}]}}",
            "{\"a\":".repeat(depth),
            "}".repeat(depth)
        );
        assert_eq!(
            ids(objects.as_bytes()),
            pinned(&[("status", status)]),
            "{depth}"
        );
    }
}
