//! `docs/openapi.yaml` is checked: it parses as YAML, deserialises as an OpenAPI 3 document
//! (`openapiv3`: every object has the fields the specification requires, of the right
//! types), every `$ref` points at something in it, and it names exactly the routes the two
//! servers serve — the station's dashboard (`src/web`) and head office (`src/hq`) — each
//! with its method and tagged with its server.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use serde_json::Value;

const DOC: &str = include_str!("../docs/openapi.yaml");
/// The dashboard page and its assets: HTML, script and style, not API.
const PAGES: [&str; 3] = ["/", "/app.js", "/app.css"];

type Routes = BTreeSet<(String, String)>;

/// `(path, method)` of every `.route("PATH", method(handler))` in a router's source.
fn routes_in(source: &str) -> Routes {
    let re =
        regex::Regex::new(r#"\.route\(\s*"([^"]+)",\s*(get|post|put|patch|delete)\("#).unwrap();
    let found: Routes = re
        .captures_iter(source)
        .map(|c| (c[1].to_owned(), c[2].to_owned()))
        .collect();
    assert!(
        !found.is_empty(),
        "no routes found: did the router change shape?"
    );
    found
}

fn web_routes() -> Routes {
    routes_in(include_str!("../src/web/mod.rs"))
        .into_iter()
        .filter(|(p, _)| !PAGES.contains(&p.as_str()))
        .collect()
}

fn hq_routes() -> Routes {
    routes_in(include_str!("../src/hq/mod.rs"))
}

fn as_json() -> Value {
    serde_norway::from_str(DOC).unwrap()
}

/// `(path, method, tags)` of every operation in the document.
fn operations(doc: &Value) -> Vec<(String, String, Vec<String>)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                let tags = op["tags"]
                    .as_array()
                    .map(|t| t.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
                    .unwrap_or_default();
                out.push((path.clone(), method.clone(), tags));
            }
        }
    }
    out
}

#[test]
fn the_document_is_valid_openapi_3() {
    let api: openapiv3::OpenAPI = serde_norway::from_str(DOC)
        .unwrap_or_else(|e| panic!("docs/openapi.yaml is not an OpenAPI 3 document: {e}"));
    assert!(api.openapi.starts_with("3.0."), "{}", api.openapi);
    assert!(!api.info.title.is_empty());
    for (path, item) in &api.paths.paths {
        let item = item.as_item().unwrap_or_else(|| panic!("{path} is a $ref"));
        for (method, op) in item.iter() {
            assert!(
                !op.responses.responses.is_empty() || op.responses.default.is_some(),
                "{method} {path} has no response"
            );
            // Every {param} in the path is declared.
            for name in path.split('{').skip(1).filter_map(|s| s.split('}').next()) {
                let declared = op
                    .parameters
                    .iter()
                    .chain(&item.parameters)
                    .any(|p| match p {
                        openapiv3::ReferenceOr::Item(p) => p.parameter_data_ref().name == name,
                        openapiv3::ReferenceOr::Reference { reference } => {
                            let key = reference.rsplit('/').next().unwrap();
                            let comp = api.components.as_ref().unwrap();
                            matches!(comp.parameters.get(key), Some(openapiv3::ReferenceOr::Item(p))
                            if p.parameter_data_ref().name == name)
                        }
                    });
                assert!(
                    declared,
                    "{method} {path}: path parameter {name} not declared"
                );
            }
        }
    }
}

#[test]
fn every_reference_resolves() {
    let doc = as_json();
    let mut refs = Vec::new();
    fn walk(v: &Value, refs: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    refs.push(r.clone());
                }
                m.values().for_each(|v| walk(v, refs));
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, refs)),
            _ => {}
        }
    }
    walk(&doc, &mut refs);
    assert!(refs.len() > 10, "{} references", refs.len());
    for r in refs {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{r}: only local references are used"));
        assert!(doc.pointer(pointer).is_some(), "{r} points at nothing");
    }
}

#[test]
fn the_document_names_exactly_the_routes_served() {
    let doc = as_json();
    let (web, hq) = (web_routes(), hq_routes());
    let ops = operations(&doc);
    let documented: Routes = ops.iter().map(|(p, m, _)| (p.clone(), m.clone())).collect();
    let served: Routes = web.union(&hq).cloned().collect();
    let missing: Vec<_> = served.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "served but not in docs/openapi.yaml: {missing:?}"
    );
    let extra: Vec<_> = documented.difference(&served).collect();
    assert!(
        extra.is_empty(),
        "in docs/openapi.yaml but not served: {extra:?}"
    );
    // Each operation is tagged with the server(s) that serve it, and only those.
    for (path, method, tags) in &ops {
        let key = (path.clone(), method.clone());
        let want: BTreeSet<&str> = [
            web.contains(&key).then_some("dashboard"),
            hq.contains(&key).then_some("head office"),
        ]
        .into_iter()
        .flatten()
        .collect();
        let got: BTreeSet<&str> = tags.iter().map(String::as_str).collect();
        assert_eq!(got, want, "{method} {path}: tags");
    }
    eprintln!(
        "openapi: {} operations, {} dashboard routes and {} head-office routes, all documented",
        ops.len(),
        web.len(),
        hq.len()
    );
}
