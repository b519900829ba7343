# knit's image for a cluster with a registry: knitd, the worker and the Pods' agent in one.
#   docker build -t REGISTRY/knit:0.1.0 . && docker push REGISTRY/knit:0.1.0
# The layout is that of k8s/image/build.sh (which builds the same image here, where no base
# image can be pulled), so the manifests in k8s/ run either.
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# No install scripts run (npm 11 blocks them); the build is `tsc` and the workflow bundle.
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY activities activities
COPY agent agent
COPY api api
COPY bin bin
COPY cli cli
COPY client client
COPY core core
COPY executor executor
COPY workflows workflows
COPY worker worker
COPY test test
COPY bench bench
RUN npm run build \
 && npm prune --omit=dev \
 && rm -rf dist/test dist/bench \
 && find dist \( -name '*.map' -o -name '*.d.ts' \) -delete

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /knit
COPY --from=build /src/package.json ./
COPY --from=build /src/bin bin
COPY --from=build /src/dist dist
COPY --from=build /src/node_modules node_modules
# The agent's entry point (executor/kubernetes/agent-image/image.ts) is /knit/agent/main.js.
RUN ln -s dist/agent /knit/agent
# The manifests run as 65532 with a read-only root filesystem.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/node"]
CMD ["/knit/bin/knitd.js"]
