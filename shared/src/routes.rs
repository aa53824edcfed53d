//! The API's routes: one table that the function's router, the deployer's REST resources and
//! Lambda permissions, the CLI's client and the error messages all read.

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `POST /ingest`.
    Ingest,
    /// `POST /search`.
    Search,
    /// `GET /documents`.
    ListDocuments,
    /// `POST /documents/delete`.
    DeleteByFilter,
    /// `POST /documents/reindex`.
    Reindex,
    /// `GET /documents/{id+}`.
    GetDocument,
    /// `DELETE /documents/{id+}`.
    DeleteDocument,
}

/// Who may call a route: enforced by API Gateway, before the function runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads the index (search, list, get): the stack's API key (`x-api-key`), or the
    /// search-only key (`up --search-key`), which reaches only these routes because its API
    /// has no others.
    Read,
    /// Writes (ingest): the stack's API key (`x-api-key`), the original contract.
    ApiKey,
    /// The operator's AWS identity: a SigV4-signed request (`AWS_IAM` authorization) by an
    /// identity allowed `execute-api:Invoke` on the method's ARN. For what destroys data or
    /// costs money across the whole index; an API key ends up in front-ends and notebooks.
    Operator,
}

impl Access {
    /// Whether an API key (`x-api-key`) is what the route takes.
    pub fn takes_api_key(self) -> bool {
        matches!(self, Access::Read | Access::ApiKey)
    }
}

/// One route of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// What it does.
    pub operation: Operation,
    /// HTTP method.
    pub method: &'static str,
    /// Resource path (`{id+}`: a greedy path variable, so ids may hold `/`).
    pub path: &'static str,
    /// Its name: the suffix of its Lambda permission statement id, and the log's `route`.
    pub name: &'static str,
    /// Who may call it.
    pub access: Access,
}

const fn route(
    operation: Operation,
    method: &'static str,
    path: &'static str,
    name: &'static str,
    access: Access,
) -> Route {
    Route {
        operation,
        method,
        path,
        name,
        access,
    }
}

/// The routes the API serves, in the order they are created and listed.
pub const ROUTES: [Route; 7] = [
    route(
        Operation::Ingest,
        "POST",
        "/ingest",
        "ingest",
        Access::ApiKey,
    ),
    route(Operation::Search, "POST", "/search", "search", Access::Read),
    route(
        Operation::ListDocuments,
        "GET",
        "/documents",
        "documents-list",
        Access::Read,
    ),
    route(
        Operation::DeleteByFilter,
        "POST",
        "/documents/delete",
        "documents-delete-by-filter",
        Access::Operator,
    ),
    route(
        Operation::Reindex,
        "POST",
        "/documents/reindex",
        "documents-reindex",
        Access::Operator,
    ),
    route(
        Operation::GetDocument,
        "GET",
        "/documents/{id+}",
        "documents-get",
        Access::Read,
    ),
    route(
        Operation::DeleteDocument,
        "DELETE",
        "/documents/{id+}",
        "documents-delete",
        Access::Operator,
    ),
];

/// The greedy path variable that ends a route's path.
const GREEDY: &str = "/{id+}";

impl Operation {
    /// Its route in [`ROUTES`].
    pub fn route(self) -> &'static Route {
        ROUTES
            .iter()
            .find(|r| r.operation == self)
            .expect("every operation has a route")
    }

    /// The path to request, relative to the stage, without the leading `/` (`documents/{id}`
    /// with `id` as given: the caller encodes it).
    pub fn path(self, id: Option<&str>) -> String {
        let path = self.route().path.trim_start_matches('/');
        match (path.strip_suffix(GREEDY), id) {
            (Some(prefix), Some(id)) => format!("{prefix}/{id}"),
            _ => path.to_string(),
        }
    }
}

impl Route {
    /// `api route POST /ingest`.
    pub fn label(&self) -> String {
        format!("api route {} {}", self.method, self.path)
    }

    /// The path in an execute-api ARN (`documents/*` for `/documents/{id+}`).
    pub fn arn_path(&self) -> String {
        self.path
            .trim_start_matches('/')
            .split('/')
            .map(|seg| if seg.starts_with('{') { "*" } else { seg })
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The id `path` names when this route serves it: `Some(None)` for a literal match,
    /// `Some(Some(id))` for the greedy variable, `None` when it does not serve `path`.
    fn serves<'p>(&self, path: &'p str) -> Option<Option<&'p str>> {
        match self.path.strip_suffix(GREEDY) {
            None => (self.path == path).then_some(None),
            Some(prefix) => path
                .strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('/'))
                .filter(|id| !id.is_empty())
                .map(Some),
        }
    }
}

/// What a method and path resolve to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved<'p> {
    /// A route serves it; `id` is the raw (still percent-encoded) greedy segment.
    Route {
        /// The route.
        route: &'static Route,
        /// The greedy segment, for `{id+}` routes.
        id: Option<&'p str>,
    },
    /// The path exists but not with this method; the methods it takes, as an `Allow` header.
    MethodNotAllowed(String),
    /// No route has this path.
    NotFound,
}

/// Resolves `method` and `path` (a trailing `/` is ignored) as API Gateway does: a literal
/// resource wins over the greedy variable, so `/documents/delete` is never a document id.
pub fn resolve<'p>(method: &str, path: &'p str) -> Resolved<'p> {
    let path = path.trim_end_matches('/');
    let literal: Vec<&'static Route> = ROUTES
        .iter()
        .filter(|r| r.serves(path) == Some(None))
        .collect();
    let candidates: Vec<(&'static Route, Option<&'p str>)> = if literal.is_empty() {
        ROUTES
            .iter()
            .filter_map(|r| r.serves(path).map(|id| (r, id)))
            .collect()
    } else {
        literal.into_iter().map(|r| (r, None)).collect()
    };
    if candidates.is_empty() {
        return Resolved::NotFound;
    }
    match candidates.iter().find(|(r, _)| r.method == method) {
        Some(&(route, id)) => Resolved::Route { route, id },
        None => Resolved::MethodNotAllowed(
            candidates
                .iter()
                .map(|(r, _)| r.method)
                .collect::<Vec<_>>()
                .join(", "),
        ),
    }
}

/// Every route as `POST /ingest, POST /search, …` (for a 404's message).
pub fn summary() -> String {
    ROUTES
        .iter()
        .map(|r| format!("{} {}", r.method, r.path.replace(GREEDY, "/{id}")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// First path segments a document id may not have: the literal routes under the greedy
/// variable's prefix (`delete`, `reindex`).
pub fn reserved_id_segment(first: &str) -> bool {
    ROUTES.iter().any(|greedy| {
        greedy.path.strip_suffix(GREEDY).is_some_and(|prefix| {
            ROUTES.iter().any(|r| {
                r.path
                    .strip_prefix(prefix)
                    .and_then(|rest| rest.strip_prefix('/'))
                    .is_some_and(|rest| rest.split('/').next() == Some(first))
                    && !r.path.ends_with(GREEDY)
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_one_route_and_names_are_unique() {
        for r in &ROUTES {
            assert_eq!(r.operation.route(), r);
            assert_eq!(ROUTES.iter().filter(|o| o.name == r.name).count(), 1);
            assert_eq!(
                ROUTES
                    .iter()
                    .filter(|o| o.method == r.method && o.path == r.path)
                    .count(),
                1
            );
        }
    }

    #[test]
    fn resolves_literal_routes_before_the_greedy_variable() {
        use Operation::*;
        let op = |m, p| match resolve(m, p) {
            Resolved::Route { route, id } => Some((route.operation, id)),
            _ => None,
        };
        assert_eq!(op("POST", "/ingest"), Some((Ingest, None)));
        assert_eq!(op("POST", "/search/"), Some((Search, None)));
        assert_eq!(op("GET", "/documents"), Some((ListDocuments, None)));
        assert_eq!(
            op("POST", "/documents/delete"),
            Some((DeleteByFilter, None))
        );
        assert_eq!(op("POST", "/documents/reindex"), Some((Reindex, None)));
        assert_eq!(
            op("GET", "/documents/a/b"),
            Some((GetDocument, Some("a/b")))
        );
        assert_eq!(
            op("DELETE", "/documents/x"),
            Some((DeleteDocument, Some("x")))
        );
        assert_eq!(
            resolve("GET", "/documents/delete"),
            Resolved::MethodNotAllowed("POST".into())
        );
        assert_eq!(
            resolve("POST", "/documents/x"),
            Resolved::MethodNotAllowed("GET, DELETE".into())
        );
        assert_eq!(resolve("GET", "/nowhere"), Resolved::NotFound);
        assert_eq!(
            resolve("GET", "/documents/"),
            Resolved::Route {
                route: ListDocuments.route(),
                id: None
            }
        );
    }

    #[test]
    fn paths_and_arns() {
        assert_eq!(Operation::Ingest.path(None), "ingest");
        assert_eq!(Operation::GetDocument.path(Some("a/b")), "documents/a/b");
        assert_eq!(Operation::DeleteByFilter.path(None), "documents/delete");
        assert_eq!(Operation::DeleteDocument.route().arn_path(), "documents/*");
        assert!(summary().contains("GET /documents/{id}"));
        assert!(summary().contains("POST /documents/reindex"));
    }

    #[test]
    fn the_read_routes_are_search_and_the_document_reads() {
        let read: Vec<Operation> = ROUTES
            .iter()
            .filter(|r| r.access == Access::Read)
            .map(|r| r.operation)
            .collect();
        assert_eq!(
            read,
            [
                Operation::Search,
                Operation::ListDocuments,
                Operation::GetDocument
            ]
        );
        assert!(!Access::Operator.takes_api_key() && Access::Read.takes_api_key());
    }

    #[test]
    fn reserved_segments_are_the_literal_routes_under_documents() {
        assert!(reserved_id_segment("delete"));
        assert!(reserved_id_segment("reindex"));
        assert!(!reserved_id_segment("notes"));
        assert!(!reserved_id_segment("documents"));
    }
}
