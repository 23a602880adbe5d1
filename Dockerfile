# swarm-mtls — the production image: `swarm-mtls serve` (CA, rotation, HTTP API on 0.0.0.0:8443).
#
#   docker build -t swarm-mtls:0.1.0 .
#
# No secret is baked in: the key-encryption key comes from the Swarm secret swarm-mtls-kek, mounted at
# /run/secrets/swarm-mtls-kek, the admin token from a secret file (--admin-token-file / api.adminTokenFile).
# scripts/build-local-images.sh builds the same /app (dist/src, config/, package.json, production node_modules)
# without a registry, for the end-to-end test.
#
# User: root. The service talks to the Docker API through /var/run/docker.sock, which only root (or the host's
# docker group) may open — and that socket is root on the host whatever the user in the container. Mount it into
# this one service only, keep it on managers (node.role == manager), or point DOCKER_HOST at a TLS-protected API
# (DOCKER_TLS_VERIFY=1, DOCKER_CERT_PATH with ca.pem, cert.pem, key.pem). Without the socket (the file store,
# `--store file:/data`) it can run as the unprivileged user `node`: `docker run --user node ...`.

FROM node:20-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY scripts ./scripts
RUN npx tsc -p tsconfig.json
# Production dependencies only, in place of the build's node_modules.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:20-slim
ENV NODE_ENV=production \
    SWARM_MTLS_API_LISTEN=0.0.0.0:8443
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY config ./config
EXPOSE 8443
# Liveness of the API, over HTTPS (swarm mode) or HTTP (file store): no curl in slim images. It follows the listen
# address serve was started with: --listen in the command (read from /proc/1/cmdline), else SWARM_MTLS_API_LISTEN;
# a wildcard host (0.0.0.0, ::) is asked on 127.0.0.1. (An api.listen set only in a --config file is not seen here:
# pass --listen or SWARM_MTLS_API_LISTEN as well.) The certificate is not verified on purpose: this only asks
# "does the process answer /healthz".
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const a=(()=>{try{return require('fs').readFileSync('/proc/1/cmdline','utf8').split(String.fromCharCode(0))}catch{return []}})();const i=a.indexOf('--listen');const l=(i>=0?a[i+1]:(a.find((x)=>x.startsWith('--listen='))||'').slice(9))||process.env.SWARM_MTLS_API_LISTEN||'';const k=l.lastIndexOf(':');const p=k>0?l.slice(k+1):'8443';let h=k>0?l.slice(0,k).replace('[','').replace(']',''):'';if(!h||h==='0.0.0.0'||h==='::')h='127.0.0.1';const get=(m)=>new Promise((ok,ko)=>require(m).get({host:h,port:p,path:'/healthz',rejectUnauthorized:false,timeout:4000},(r)=>ok(r.statusCode)).on('error',ko));get('https').catch(()=>get('http')).then((s)=>process.exit(s===200?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "/app/dist/src/cli/main.js"]
CMD ["serve"]
