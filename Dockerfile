# Placeholder until the Kubernetes issue lands (multi-stage, non-root, distroless).
FROM node:24-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev
COPY bin ./bin
COPY dist ./dist
USER node
ENTRYPOINT ["node", "bin/outrider", "--config", "/etc/outrider/outrider.yaml"]
