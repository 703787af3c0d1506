//! drawpile/dpserver, Drawpile's official all-in-one Compose project, laid out the way its
//! README leaves it: `git clone https://github.com/drawpile/dpserver.git` in root's home,
//! `./setup.sh` (whose configure.sh writes `.env`), then `./docker-compose-wrapper up -d`.
//!
//! The configuration files below are dpserver's own, as data: docker-compose.yaml,
//! nginx-config/default.conf and nginx/Dockerfile at commit b9c5baf5dc18e573ce4e1494014d648788e9ebd1
//! (2026-05-16). The Origin check before commit 04852845d5402e0e09593a0ae8610f5c5a82e0b8
//! (2026-01-05, "Expand origin check according to the setup guide") is `PRE_2026_ORIGIN_CHECK`,
//! as added in ce7b887 (2024-02-21). The "own web server" variant follows the README's
//! "Using your own web server" section (no nginx service, no certbot volume, the web admin
//! and list server published on 127.0.0.1).

use super::FakeMachine;

pub const DOMAIN: &str = "draw.example.com";

/// docker-compose.yaml at b9c5baf (note `command:` as a plain multi-line scalar, and the
/// WebSocket port reached over the compose network only).
pub const COMPOSE: &str = r#"version: '3.3'
services:
    drawpile-srv:
        image: drawpile/drawpile-srv:${DP_VERSION:-2.3}
        command: 
            --sessions /home/drawpile/sessions
            --database /home/drawpile/config.db
            --web-admin-port 27780
            --web-admin-access all
            --templates /var/session-templates
            --local-host ${DOMAIN}
            --extauth https://drawpile.net/api/ext-auth/
            --report-url http://abusereport:8080/
            --websocket-port 27751
        restart: always
        ports:
            - "27750:27750"
        volumes:
            - type: volume
              source: serverdata
              target: /home/drawpile
            - type: bind
              source: ./session-templates
              target: /var/session-templates
              read_only: true
        networks:
            - dpserver

    listserver:
        image: drawpile/listserver:${LISTSERVER_VERSION:-1}
        restart: always
        networks:
            - dpserver
        environment:
            LS_INCLUDESERVERS: http://drawpile-srv:27780/api
            LS_DATABASE: none
            LS_NAME: ${DOMAIN}
            LS_PROXYHEADERS: "true"

    abusereport:
        image: drawpile/abusereport:${ABUSEREPORT_VERSION:-1}
        restart: always
        networks:
            - dpserver
        environment:
            SERVER_HOST: ${DOMAIN}
            DISCORD_WEBHOOK: ${DISCORD_WEBHOOK}

    nginx:
        build:
            context: ./nginx
            args:
                - DOMAIN
                - EMAIL
        environment:
            DOMAIN: ${DOMAIN}
            EMAIL: ${EMAIL}
            USE_CERTBOT: ${USE_CERTBOT:-no}
        restart: always
        ports:
            - "80:80"
            - "443:443"
        volumes:
            - type: bind
              source: ./nginx-config
              target: /etc/nginx/conf.d
              read_only: true
            - type: bind
              source: ./public_html
              target: /var/www/public_html
              read_only: true
            - type: volume
              source: certbot
              target: /etc/certbot
        networks:
            - dpserver

volumes:
    serverdata:
    certbot:

networks:
    dpserver:
        driver: bridge
"#;

/// The Origin check at b9c5baf (since 0485284, 2026-01-05).
pub const ORIGIN_CHECK_2026: &str = r#"		# This block is optional. It is used to restrict WebSocket clients to
		# the desktop/mobile application (with an empty origin), the official
		# client on web.drawpile.net and the Chinese mirror hosted by the
		# Foxdice community. If you want to use other clients, you can add them
		# here or remove the restriction altogether.
		if ($http_origin !~ "^(https://web\.(drawpile\.net|foxdice\.cn))?$") {
			return 403;
		}
"#;

/// The Origin check from ce7b887 (2024-02-21) until 0485284: refuses the desktop app (no
/// Origin) and the mirror.
pub const PRE_2026_ORIGIN_CHECK: &str = r#"		if ($http_origin != "https://web.drawpile.net") {
			return 403;
		}
"#;

/// nginx-config/default.conf at b9c5baf with `origin_check` in its WebSocket location.
pub fn default_conf(origin_check: &str) -> String {
    format!(
        r#"server {{
	listen *:80;
	listen [::]:80;

	location / {{
		# Use 301 for permanent redirect
		return 307 https://$host:443$request_uri;
	}}

	location /.well-known/acme-challenge/ {{
		root /var/www/certbot;
	}}
}}

server {{
	listen *:443 ssl;
	listen [::]:443 ssl;

	#access_log  /var/log/nginx/host.access.log  main;
	root /var/www/public_html;

	ssl_certificate /usr/share/nginx/certificates/fullchain.pem;
	ssl_certificate_key /usr/share/nginx/certificates/privkey.pem;

	# Enable these for extra security after letsencrypt is configured
	#include /etc/letsencrypt/options-ssl-nginx.conf;
	#ssl_dhparam /etc/letsencrypt/ssl-dhparams.pem;

	location / {{
		try_files $uri $uri/ =404;
	}}

	location /admin/ {{
		auth_basic "admin";
		auth_basic_user_file /etc/nginx/conf.d/htpasswd;
		try_files $uri /admin/index.html =404;

		location /admin/api/ {{
			proxy_pass http://drawpile-srv:27780/api/;
			proxy_redirect default;
		}}
	}}

	location /listing/ {{
		proxy_pass http://listserver:8080/;
		proxy_redirect default;
		proxy_set_header X-Real-IP $remote_addr;
	}}

	location /drawpile-web/ws {{
{origin_check}		proxy_pass http://drawpile-srv:27751;
		proxy_http_version 1.1;
		proxy_set_header Upgrade $http_upgrade;
		proxy_set_header Connection "upgrade";
		proxy_set_header X-Real-IP $remote_addr;
	}}

}}
"#
    )
}

/// nginx/Dockerfile at b9c5baf.
pub const NGINX_DOCKERFILE: &str = "# See: https://ilhicas.com/2019/03/02/Nginx-Letsencrypt-Docker.html\nFROM nginx:alpine\nARG DOMAIN\nARG EMAIL\n\nRUN apk add inotify-tools certbot openssl\n\nWORKDIR /opt\nCOPY setup.sh /opt/\nRUN /bin/sh setup.sh\nCOPY entrypoint.sh certbot.sh /opt/\n\nENTRYPOINT [ \"/bin/sh\", \"/opt/entrypoint.sh\" ]\n";

/// What configure.sh writes with a Let's Encrypt e-mail and no Discord webhook.
pub fn dotenv() -> String {
    format!("DOMAIN={DOMAIN}\nUSE_CERTBOT=yes\nEMAIL=admin@example.com\nDISCORD_WEBHOOK=\n")
}

/// dpserver cloned into `dir` on `m`, with `default.conf` as the site.
pub fn install(m: &FakeMachine, dir: &str, compose: &str, default_conf: &str) {
    m.file(&format!("{dir}/docker-compose.yaml"), compose)
        .file(&format!("{dir}/.env"), dotenv())
        .file(&format!("{dir}/nginx-config/default.conf"), default_conf)
        .file(&format!("{dir}/nginx/Dockerfile"), NGINX_DOCKERFILE)
        .file(
            &format!("{dir}/public_html/index.html"),
            "<!doctype html><title>Drawpile</title>\n",
        )
        .dir(&format!("{dir}/session-templates"));
}

/// dpserver as it is now (b9c5baf), in /root/dpserver.
pub fn current(m: &FakeMachine) {
    install(
        m,
        "/root/dpserver",
        COMPOSE,
        &default_conf(ORIGIN_CHECK_2026),
    );
}

/// dpserver cloned before 2026-01-05 (the WebSocket location's Origin check of ce7b887).
pub fn pre_2026(m: &FakeMachine) {
    install(
        m,
        "/root/dpserver",
        COMPOSE,
        &default_conf(PRE_2026_ORIGIN_CHECK),
    );
}

/// docker-compose.yaml changed as the README's "Using your own web server" says: the nginx
/// section and the certbot volume removed, the web admin and the list server published on
/// 127.0.0.1. `ws_ports` are extra drawpile-srv port lines (e.g. the WebSocket port, which
/// the README forgets).
pub fn own_web_server_compose(ws_ports: &[&str]) -> String {
    let nginx = COMPOSE.find("    nginx:\n").unwrap();
    let volumes = COMPOSE.find("volumes:\n    serverdata:").unwrap();
    let mut text = format!("{}{}", &COMPOSE[..nginx], &COMPOSE[volumes..]);
    text = text.replace("    certbot:\n", "");
    let mut extra = String::from("            - \"127.0.0.1:27780:27780\"\n");
    for p in ws_ports {
        extra.push_str(&format!("            - \"{p}\"\n"));
    }
    text = text.replacen(
        "            - \"27750:27750\"\n",
        &format!("            - \"27750:27750\"\n{extra}"),
        1,
    );
    text.replacen(
        "    listserver:\n        image: drawpile/listserver:${LISTSERVER_VERSION:-1}\n",
        "    listserver:\n        image: drawpile/listserver:${LISTSERVER_VERSION:-1}\n        ports:\n            - \"127.0.0.1:8080:8080\"\n",
        1,
    )
}

// Other real public setups of drawpile-srv under Compose (their files as data).

/// Snappsu/sz-drawpile, a dpserver fork: docker-compose.yaml at commit
/// 2b65a8d3f43140b886626e81ae485975dfc21952 (container names, fixed addresses, absolute short
/// bind mounts, 443/udp); its nginx site web-server/nginx-config/defaults.conf at f230285 is
/// dpserver's with the list server reached by container name.
pub const SZ_DRAWPILE_COMPOSE: &str = r#"version: '3.3'
services:
    drawpile-srv:
        container_name: drawpile-server
        image: drawpile/drawpile-srv:${DP_VERSION:-2.3}
        command:
            --sessions /var/sessions
            --database /home/drawpile/config.db
            --web-admin-port 27780
            --web-admin-access all
            --templates /var/session-templates
            --local-host ${DOMAIN}
            --report-url http://abusereport:8080/
            --websocket-port 27751
            --extauth https://api.snapples64.workers.dev/drawpile/login
        restart: always
        ports:
            - "27750:27750"
        volumes:
            - /home/drawpile/sessions:/var/sessions
            - /home/drawpile/session-templates:/var/session-templates
        networks:
            dpserver:
                ipv4_address: 172.18.0.2

    listserver:
        container_name: drawpile-listserver
        image: drawpile/listserver:${LISTSERVER_VERSION:-1}
        command:
            -c /srv/listserver.cfg
        volumes:
            - /home/drawpile/server-data:/srv
        restart: always
        networks:
            dpserver:
                ipv4_address: 172.18.0.3
        environment:
            LS_INCLUDESERVERS: http://drawpile-srv:27780/api
            LS_DATABASE: none
            LS_NAME: ${DOMAIN}
            LS_PROXYHEADERS: "true"

    abusereport:
        container_name: drawpile-abusereport
        image: drawpile/abusereport:${ABUSEREPORT_VERSION:-1}
        restart: always
        networks:
            dpserver:
                ipv4_address: 172.18.0.5
        environment:
            SERVER_HOST: ${DOMAIN}
            DISCORD_WEBHOOK: ${DISCORD_WEBHOOK}

    nginx:
        container_name: drawpile-nginx
        build:
            context: ./setup/nginx
            args:
                - DOMAIN
                - EMAIL
        environment:
            DOMAIN: ${DOMAIN}
            EMAIL: ${EMAIL}
            USE_CERTBOT: ${USE_CERTBOT:-no}
        restart: unless-stopped
        ports:
            - "80:80"
            - "443:443"
            - "443:443/udp"
        volumes:
            - /home/drawpile/web-server/certs:/etc/certbot
            - /home/drawpile/web-server/site:/var/www/public_html
            - /home/drawpile/web-server/nginx-config:/etc/nginx/conf.d
        networks:
            dpserver:
              ipv4_address: 172.18.0.4

networks:
    dpserver:
      ipam:
        driver: default
        config:
          - subnet: 172.18.0.0/16
            gateway: 172.18.0.1
"#;

/// Snappsu/sz-drawpile laid out in /home/drawpile.
pub fn sz_drawpile(m: &FakeMachine) {
    let conf = default_conf(ORIGIN_CHECK_2026).replace(
        "\t\tproxy_pass http://listserver:8080/;\n\t\tproxy_redirect default;\n\t\tproxy_set_header X-Real-IP $remote_addr;\n",
        "\t\tproxy_pass http://drawpile-listserver:8080/;\n",
    );
    m.file("/home/drawpile/docker-compose.yaml", SZ_DRAWPILE_COMPOSE)
        .file("/home/drawpile/.env", dotenv())
        .file("/home/drawpile/setup/nginx/Dockerfile", NGINX_DOCKERFILE)
        .file("/home/drawpile/web-server/nginx-config/defaults.conf", conf)
        .dir("/home/drawpile/web-server/certs");
}

/// rhwong/drawpile-server-onekey (dp-srv-ok.sh at d0cde405296ed1451cd4b0e2b2796d75c2d415f8):
/// clones dpserver next to itself and writes `.env` itself; an empty domain ("leave empty to
/// use this machine's IP") and no certbot.
pub fn onekey_without_domain(m: &FakeMachine) {
    current(m);
    m.file(
        "/root/dpserver/.env",
        "DOMAIN=\nUSE_CERTBOT=no\nEMAIL=10000@qq.com\nDISCORD_WEBHOOK=\n",
    );
}

/// brushdojo/drawpile-srv at d2f81de6927e23f356b6feae84bad5341ff5bbc9: an image built from
/// Drawpile's former image (its `dockerfile`, lower case, starts `FROM
/// callaa/drawpile-srv:2.1.12`), no proxy.
pub fn brushdojo(m: &FakeMachine) {
    m.file(
        "/opt/drawpile-srv/docker-compose.yml",
        "version: \"3.7\"\nservices:\n  drawpile-srv:\n    build: ./\n    image: brush-dojo/drawpile-srv\n    volumes:\n      - drawpile-data:/home/drawpile\n    networks:\n      - webnet\n    ports:\n      - \"27750:27750\"\n      - \"127.0.0.1:27780:27780\"\n    secrets:\n      - web-admin-credentials\nnetworks:\n  webnet: ~\nvolumes:\n  drawpile-data: ~\nsecrets:\n  web-admin-credentials:\n    file: ./secrets/web-admin-credentials\n",
    )
    .file(
        "/opt/drawpile-srv/dockerfile",
        "# pull an official drawpile-srv image from dockerhub\nFROM callaa/drawpile-srv:2.1.12\n\nENV CONFIG_DATABASE_FILEPATH=/home/drawpile/config.db\nUSER root\nRUN apk add bash sqlite\nENTRYPOINT [\"/docker-entrypoint.sh\"]\nEXPOSE 27750 27780\nUSER drawpile\n",
    );
}
