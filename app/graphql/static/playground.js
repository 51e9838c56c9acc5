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

  function operationType(params, options) {
    var documentAST = options && options.documentAST;
    var definitions = (documentAST && documentAST.definitions) || [];
    var chosen = definitions.filter(function (definition) {
      return (
        definition.kind === "OperationDefinition" &&
        (!params.operationName ||
          (definition.name && definition.name.value === params.operationName))
      );
    })[0];
    return chosen ? chosen.operation : "query";
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
    if (operationType(params, options) === "subscription") {
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
