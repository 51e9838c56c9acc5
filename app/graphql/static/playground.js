// The GraphiQL playground of LLM Test Bench, loaded by GET /graphql.
//
// Queries and mutations go to POST /graphql; subscriptions to a WebSocket on the
// same path (graphql-transport-ws). Both carry the credential written in
// GraphiQL's headers editor: {"Authorization": "Bearer <jwt>"} or
// {"X-API-Key": "ltb_..."}; for a subscription it is the connection_init payload.
(function () {
  "use strict";

  var httpUrl = new URL("/graphql", window.location.href).toString();
  var wsUrl = httpUrl.replace(/^http/, "ws");
  var httpFetcher = GraphiQL.createFetcher({ url: httpUrl });

  // The type of the operation to run, read from the query text itself: GraphiQL's
  // parsed document can lag behind the editor by a keystroke.
  function operationType(params) {
    var text = params.query
      .replace(/"""[\s\S]*?"""/g, '""')
      .replace(/"(?:\\.|[^"\\])*"/g, '""')
      .replace(/#[^\n\r]*/g, "");
    var operations = [];
    var depth = 0;
    var pending = false; // a definition's keyword was read, its braces not yet
    var pattern = /[{}]|[A-Za-z_][A-Za-z0-9_]*/g;
    var token;
    while ((token = pattern.exec(text)) !== null) {
      var word = token[0];
      if (word === "{") {
        if (depth === 0 && !pending) {
          operations.push({ type: "query", name: null });
        }
        pending = false;
        depth += 1;
      } else if (word === "}") {
        depth -= 1;
      } else if (depth === 0 && !pending) {
        var isOperation = /^(query|mutation|subscription)$/.test(word);
        if (isOperation || word === "fragment") {
          var name = /^\s*([A-Za-z_][A-Za-z0-9_]*)/.exec(text.slice(pattern.lastIndex));
          operations.push({ type: word, name: name ? name[1] : null });
          pending = true;
        }
      }
    }
    var chosen = operations.filter(function (operation) {
      return (
        operation.type !== "fragment" &&
        (!params.operationName || operation.name === params.operationName)
      );
    })[0];
    return chosen ? chosen.type : "query";
  }

  function subscribe(params, headers) {
    return {
      subscribe: function (observer) {
        var client = graphqlWs.createClient({
          url: wsUrl,
          connectionParams: headers || {},
          retryAttempts: 0,
        });
        var dispose = client.subscribe(params, {
          next: function (value) {
            observer.next(value);
          },
          error: function (error) {
            observer.error(error);
            client.dispose();
          },
          complete: function () {
            observer.complete();
            client.dispose();
          },
        });
        return {
          unsubscribe: function () {
            dispose();
            client.dispose();
          },
        };
      },
    };
  }

  function fetcher(params, options) {
    if (operationType(params) === "subscription") {
      return subscribe(params, options && options.headers);
    }
    return httpFetcher(params, options);
  }

  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: "query {\n  version\n  health\n  me {\n    username\n    role\n  }\n}\n",
      defaultHeaders: '{"Authorization": "Bearer <token from POST /v1/auth/login>"}',
      defaultEditorToolsVisibility: "headers",
    })
  );
})();
