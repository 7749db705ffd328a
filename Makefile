# The two commands of the README's quick start: `make demo` and `make test`.
SWIFT ?= swift
PACKAGES := pkg-config libpng-dev libjpeg-dev libopenblas-dev zlib1g-dev
BIN := .build/release/vaecodec
DEMO := .build/demo

PREFIX ?= /usr/local

.PHONY: deps build demo test docs man install clean

# Installs the Debian/Ubuntu packages that are missing (as root, or through sudo).
deps:
	@missing=""; for p in $(PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  echo "installing:$$missing"; \
	  $$sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q $$missing; \
	fi

build: deps
	$(SWIFT) build -c release

# The main job: compress a fixture face (the shipped models choose themselves), inspect, decompress, denoise.
demo: build
	@rm -rf $(DEMO) && mkdir -p $(DEMO)
	$(BIN) compress Fixtures/images/face-lfw-64.png -o $(DEMO)/face.vae
	$(BIN) info $(DEMO)/face.vae
	$(BIN) decompress $(DEMO)/face.vae -o $(DEMO)/face.png
	$(BIN) compress Fixtures/images/digit-7.png -o $(DEMO)/digit.vae
	$(BIN) decompress $(DEMO)/digit.vae -o $(DEMO)/digit.png
	$(BIN) denoise Fixtures/images/face-lfw-64.png --sigma 10 -o $(DEMO)/face-denoised.png
	@echo "demo output in $(DEMO)/"

# The test suite, the example package that depends on vaecodec by version (Examples/check.sh), then a short run of
# each fuzz target (Fuzz/README.md): any crash or leak fails the build.
FUZZ_TARGETS := FuzzVAEFile FuzzImage FuzzModelFile
FUZZ_SECONDS ?= 30
test: deps
	$(SWIFT) test
	Examples/check.sh
	$(SWIFT) package generate-documentation --target VAECodecKit --warnings-as-errors > .build/docs.log 2>&1 || { tail -40 .build/docs.log; exit 1; }
	@for t in $(FUZZ_TARGETS); do \
	  Fuzz/run.sh $$t $(FUZZ_SECONDS) > .build/fuzz-$$t.log 2>&1 || { tail -40 .build/fuzz-$$t.log; echo "fuzzing $$t failed (its input is in Fuzz/.build/)"; exit 1; }; \
	  echo "fuzz $$t: $$(grep -E '^Done' .build/fuzz-$$t.log), no crash or leak"; \
	done

# The library's API reference and getting-started article (DocC), in .build/plugins/Swift-DocC/outputs.
docs:
	$(SWIFT) package generate-documentation --target VAECodecKit

# The man page, vaecodec.1, from the commands' own help (swift-argument-parser's generate-manual).
MAN := .build/plugins/GenerateManual/outputs/vaecodec/vaecodec.1
man: deps
	$(SWIFT) package --allow-writing-to-package-directory generate-manual

# The binary in $(PREFIX)/bin, its man page, and the shipped models in $(PREFIX)/share/vaecodec/models, where it
# looks for them.
install: build man
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/vaecodec/models $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/vaecodec
	install -m 644 $(MAN) $(DESTDIR)$(PREFIX)/share/man/man1/vaecodec.1
	install -m 644 Sources/Codec/Models/*.safetensors $(DESTDIR)$(PREFIX)/share/vaecodec/models/

clean:
	rm -rf .build
