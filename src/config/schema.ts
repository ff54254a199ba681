// The configuration schema: the single source of truth for every key, its type and its default.
// `homestead generate-config` writes a commented YAML file from the same descriptions.
import { Type, type Static } from '@sinclair/typebox'
import { DEFAULT_MAX_JSON_VALUES } from '../shared/client-json.ts'
import { DEFAULT_IP_RANGE_BLOCKLIST } from '../outbound/ranges.ts'
import { DEFAULT_ROOM_VERSION, ROOM_VERSIONS } from '../protocol/room-versions.ts'

const RateLimit = (perSecond: number, burst: number, description: string) =>
  Type.Object(
    {
      per_second: Type.Number({ exclusiveMinimum: 0, default: perSecond, description: 'tokens refilled per second' }),
      burst: Type.Integer({ minimum: 1, default: burst, description: 'requests allowed at once' }),
    },
    { additionalProperties: false, default: {}, description },
  )

export const ConfigSchema = Type.Object(
  {
    server_name: Type.String({
      minLength: 1,
      pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$',
      default: 'localhost',
      description: 'The domain in your user IDs (@alice:server_name). It cannot change once users exist.',
    }),
    public_baseurl: Type.Union([Type.String({ pattern: '^https?://' }), Type.Null()], {
      default: null,
      description: 'The URL clients use to reach this server. Default: http://localhost:<port>/ for localhost, otherwise https://<server_name>/.',
    }),
    listen: Type.Object(
      {
        host: Type.String({ default: '0.0.0.0', description: 'Address the Client-Server API listens on.' }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 8008, description: 'Port of the Client-Server API.' }),
      },
      { additionalProperties: false, default: {} },
    ),
    data_dir: Type.String({
      minLength: 1,
      default: './data',
      description: 'Where Homestead keeps its files: the embedded PostgreSQL cluster (data_dir/postgres) and, later, media.',
    }),
    workers: Type.Integer({ minimum: 1, maximum: 256, default: 1, description: 'Processes serving the same port.' }),
    database: Type.Object(
      {
        url: Type.Union([Type.String({ pattern: '^postgres(ql)?://' }), Type.Null()], {
          default: null,
          description: 'postgres://user:password@host:5432/db of an external PostgreSQL (Aurora); without the password when password_secret_arn or iam_auth is set. Empty: Homestead runs its own embedded PostgreSQL in data_dir.',
        }),
        pool_size: Type.Integer({ minimum: 1, maximum: 1000, default: 20, description: 'Connections per process.' }),
        ssl: Type.Union([Type.Literal('disable'), Type.Literal('require'), Type.Literal('verify-full')], {
          default: 'disable',
          description: 'TLS to an external server: disable, require (encrypted, certificate not checked) or verify-full (checked against ssl_ca_file or the system CAs). Aurora: verify-full with the RDS CA bundle.',
        }),
        ssl_ca_file: Type.Union([Type.String(), Type.Null()], { default: null, description: 'PEM file of CA certificates for verify-full.' }),
        statement_timeout_ms: Type.Integer({ minimum: 0, default: 60000, description: 'Server-side limit on one statement (0: none).' }),
        password_secret_arn: Type.Union([Type.String({ pattern: '^arn:' }), Type.Null()], {
          default: null,
          description: 'AWS Secrets Manager secret holding the password for database.url\'s user (SecretString JSON with "password", or the bare password). Read at start and again when PostgreSQL refuses the password, so a rotated password needs no restart. database.url then holds no password.',
        }),
        iam_auth: Type.Boolean({
          default: false,
          description: 'Sign in to Amazon RDS/Aurora with an IAM authentication token (generated per connection for database.url\'s user) instead of a password. Needs database.ssl and the rds_iam role (homestead db-bootstrap grants it).',
        }),
        aws_region: Type.Union([Type.String({ minLength: 1 }), Type.Null()], {
          default: null,
          description: 'AWS region of password_secret_arn and of the IAM tokens. Null: the secret ARN\'s region, else the SDK\'s (AWS_REGION).',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    registration: Type.Object(
      {
        enabled: Type.Boolean({ default: false, description: 'Open sign-up through the Client-Server API.' }),
        requires_token: Type.Boolean({ default: false, description: 'Sign-up needs a registration token (m.login.registration_token).' }),
        // At least shared_secret_min_length characters, checked in loadConfig (the limit is a setting of its own).
        shared_secret: Type.Union([Type.String({ minLength: 1 }), Type.Null()], {
          default: null,
          description: 'Enables /_synapse/admin/v1/register (nonce + HMAC-SHA1), as used by register_new_matrix_user. At least registration.shared_secret_min_length characters.',
        }),
        shared_secret_min_length: Type.Integer({
          minimum: 1,
          default: 16,
          description: 'Shortest accepted registration.shared_secret. Lower it only for a secret fixed elsewhere (SyTest\'s is 10 characters).',
        }),
        password_min_length: Type.Integer({ minimum: 0, default: 8, description: 'Shortest accepted new password.' }),
        requires_email: Type.Boolean({
          default: false,
          description: 'Sign-up needs a validated e-mail address (m.login.email.identity; needs email.smtp_host). Without it, an address is optional when email.smtp_host is set.',
        }),
        allow_guest_access: Type.Boolean({
          default: false,
          description: 'Guest accounts (POST /register?kind=guest): no password, only the endpoints the spec lists for guests, rooms whose m.room.guest_access is can_join.',
        }),
        recaptcha: Type.Object(
          {
            required: Type.Boolean({
              default: false,
              description: 'Sign-up needs a solved reCAPTCHA (the m.login.recaptcha stage, before the rest of the flow; Synapse\'s enable_registration_captcha). Needs public_key and private_key.',
            }),
            public_key: Type.Union([Type.String({ minLength: 1, maxLength: 255 }), Type.Null()], {
              default: null,
              description: 'The reCAPTCHA site key, given to clients in the stage\'s params.',
            }),
            private_key: Type.Union([Type.String({ minLength: 1, maxLength: 255 }), Type.Null()], {
              default: null,
              description: 'The reCAPTCHA secret key, sent with each answer to siteverify_api. Set: the m.login.recaptcha stage can be completed.',
            }),
            siteverify_api: Type.String({
              pattern: '^https?://[^#]+$',
              maxLength: 2048,
              default: 'https://www.recaptcha.net/recaptcha/api/siteverify',
              description: 'Where answers are checked (through outbound.ip_range_*).',
            }),
            timeout_ms: Type.Integer({ minimum: 100, default: 10000, description: 'How long a check may take.' }),
          },
          { additionalProperties: false, default: {} },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    auth: Type.Object(
      {
        refreshable_access_token_lifetime_ms: Type.Integer({
          minimum: 1000,
          default: 300000,
          description: 'Lifetime of access tokens issued with a refresh token.',
        }),
        refresh_token_lifetime_ms: Type.Union([Type.Integer({ minimum: 1000 }), Type.Null()], {
          default: null,
          description: 'Lifetime of refresh tokens (null: until used or logged out).',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    sso: Type.Object(
      {
        cas: Type.Object(
          {
            enabled: Type.Boolean({
              default: false,
              description: 'Single sign-on through a CAS server (m.login.sso, m.login.cas): GET /login/sso/redirect sends the browser to server_url/login, the ticket coming back is checked with server_url/proxyValidate, and a user seen for the first time gets an account (an existing account with the same localpart is taken over, as Synapse does).',
            }),
            server_url: Type.Union([Type.String({ pattern: '^https?://[^?#]+$', maxLength: 2048 }), Type.Null()], {
              default: null,
              description: 'The CAS server\'s base URL, e.g. "https://cas.example.org/cas" (required when enabled). Requests to it go through outbound.ip_range_*: a CAS server on a private network needs its range in outbound.ip_range_allowlist.',
            }),
            displayname_attribute: Type.Union([Type.String({ minLength: 1, maxLength: 255 }), Type.Null()], {
              default: null,
              description: 'The CAS attribute whose value becomes a new user\'s display name. Null: the localpart.',
            }),
            required_attributes: Type.Record(Type.String({ minLength: 1, maxLength: 255 }), Type.Union([Type.String({ maxLength: 1024 }), Type.Null()]), {
              default: {},
              description: 'Attributes a CAS user must have to sign in: name → the value it must hold, or null for any value.',
            }),
            idp_name: Type.String({ minLength: 1, maxLength: 255, default: 'CAS', description: 'The name clients show for this identity provider (identity_providers in GET /login).' }),
            timeout_ms: Type.Integer({ minimum: 100, default: 10000, description: 'Time limit for checking one ticket with the CAS server.' }),
          },
          { additionalProperties: false, default: {} },
        ),
        client_whitelist: Type.Array(Type.String({ pattern: '^[a-zA-Z][a-zA-Z0-9+.-]*:', maxLength: 2048 }), {
          default: [],
          description: 'Client redirect URL prefixes (e.g. "https://app.element.io/") sent straight back with their login token after a sign-on; any other redirectUrl first gets a page asking the user to confirm where they are going, so a link from someone else cannot collect their token.',
        }),
        login_token_lifetime_ms: Type.Integer({
          minimum: 1000,
          maximum: 600_000,
          default: 120_000,
          description: 'How long the single-use loginToken given back to the client after a sign-on may be exchanged at POST /login (m.login.token).',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    well_known: Type.Object(
      {
        server: Type.Union([Type.String({ pattern: '^[^/]+$' }), Type.Null()], {
          default: null,
          description: 'Delegation served at /.well-known/matrix/server, e.g. "matrix.example.com:443". Null: not served.',
        }),
        support_contacts: Type.Array(
          Type.Object(
            {
              role: Type.String({ minLength: 1, description: 'm.role.admin, m.role.security, or a namespaced role of your own.' }),
              matrix_id: Type.Optional(Type.String({ pattern: '^@[^:]+:.+$' })),
              email_address: Type.Optional(Type.String({ pattern: '^[^@\\s]+@[^@\\s]+$' })),
            },
            { additionalProperties: false },
          ),
          { default: [], description: 'Administrators served at /.well-known/matrix/support (each with a matrix_id, an email_address or both).' },
        ),
        support_page: Type.Union([Type.String({ pattern: '^https?://' }), Type.Null()], {
          default: null,
          description: 'A web page about getting help, served at /.well-known/matrix/support.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    rate_limits: Type.Object(
      {
        enabled: Type.Boolean({ default: true, description: 'Rate limiting of login, registration and sending.' }),
        login_address: RateLimit(0.003, 5, 'Logins per client IP address.'),
        login_account: RateLimit(0.003, 5, 'Logins per account.'),
        login_failed_attempts: RateLimit(0.17, 3, 'Failed logins per account.'),
        registration: RateLimit(0.17, 3, 'Registration requests per client IP address.'),
        shared_secret_nonce: RateLimit(0.17, 3, 'Nonces for shared-secret registration (GET /_synapse/admin/v1/register) per client IP address.'),
        message: RateLimit(0.2, 10, 'Events sent per user: messages, redactions and state; also profile changes (displayname, avatar_url) and room creation (Synapse: rc_message).'),
        room_creation: RateLimit(0.016, 10, 'Rooms created or upgraded per user, on top of the message limit (Synapse: rc_room_creation).'),
        threepid_validation: RateLimit(0.003, 5, 'Validation mails (the requestToken endpoints) per e-mail address and per client IP address (Synapse: rc_3pid_validation).'),
      },
      { additionalProperties: false, default: {} },
    ),
    http: Type.Object(
      {
        max_body_bytes: Type.Integer({ minimum: 1024, default: 10 * 1024 * 1024, description: 'Largest JSON request body.' }),
        max_json_values: Type.Integer({
          minimum: 1000,
          default: DEFAULT_MAX_JSON_VALUES,
          description: 'Most members and elements (values in objects and arrays) a JSON request body may hold (413 M_TOO_LARGE beyond).',
        }),
        trust_proxy: Type.Boolean({ default: false, description: 'Take client IPs from X-Forwarded-For (behind a load balancer).' }),
        shutdown_grace_ms: Type.Integer({ minimum: 0, default: 10000, description: 'How long SIGTERM waits for requests in flight.' }),
        headers_timeout_ms: Type.Integer({ minimum: 100, default: 60000, description: "Time a client has to send a request's headers, from the connection or the previous request (Node's headersTimeout); past it: 408 and the connection closed." }),
        request_timeout_ms: Type.Integer({ minimum: 100, default: 300000, description: 'Time a client has to send a whole request, body included (a trickling body is cut off with 408). Media uploads must arrive within it too: raise it for large uploads over slow links.' }),
        idle_timeout_ms: Type.Integer({ minimum: 1000, default: 120000, description: 'A connection on which nothing is read or written for this long is closed (a stalled upload, a client that stops reading). Keep it above limits.sync_timeout_ms.' }),
        keep_alive_timeout_ms: Type.Integer({ minimum: 100, default: 72000, description: 'How long a connection may wait idle for its next request (above the 60 s idle timeout of most load balancers, so they close first).' }),
      },
      { additionalProperties: false, default: {} },
    ),
    limits: Type.Object(
      {
        sync_timeline_limit: Type.Integer({ minimum: 1, default: 100, description: "Most events per room in a /sync timeline: a filter's larger timeline.limit is lowered to it (the timeline is then limited, with a prev_batch)." }),
        sync_timeout_ms: Type.Integer({ minimum: 0, default: 60000, description: 'Longest /sync long-poll: a larger timeout parameter is lowered to it.' }),
        messages_limit: Type.Integer({ minimum: 1, default: 1000, description: 'Most events a /messages page returns (Synapse: 1000).' }),
        context_limit: Type.Integer({ minimum: 1, default: 100, description: 'Most events around the event in /context.' }),
        relations_limit: Type.Integer({ minimum: 1, default: 100, description: 'Most events a /relations or /threads page returns.' }),
        search_limit: Type.Integer({ minimum: 1, default: 100, description: 'Most results a /search page returns (filter.limit).' }),
        user_directory_limit: Type.Integer({ minimum: 1, default: 100, description: 'Most results of /user_directory/search.' }),
        public_rooms_limit: Type.Integer({ minimum: 1, default: 500, description: 'Most rooms a /publicRooms page returns, and the page a request without a limit gets (Synapse: all rooms).' }),
        hierarchy_limit: Type.Integer({ minimum: 1, default: 50, description: 'Most rooms a /hierarchy page returns (Synapse: 50).' }),
        status_msg_bytes: Type.Integer({ minimum: 1, default: 1024, description: 'Longest presence status_msg, in UTF-8 bytes; longer is refused with 400.' }),
      },
      { additionalProperties: false, default: {}, description: 'Caps on what one request may ask for: larger limit parameters are lowered to these, silently, as Synapse does.' },
    ),
    rooms: Type.Object(
      {
        default_room_version: Type.Union([...ROOM_VERSIONS.keys()].map((id) => Type.Literal(id)), {
          default: DEFAULT_ROOM_VERSION,
          description: "Version of rooms created without a room_version (createRoom), advertised in /capabilities. Pick 11 when the servers your users talk to lack version 12 (Synapse: default_room_version).",
        }),
        ephemeral_messages: Type.Boolean({
          default: false,
          description:
            'Self-destructing messages (MSC2228): an event whose content carries org.matrix.self_destruct_after (a time in ms) is pruned to its redacted form at that time, here (Synapse: enable_ephemeral_messages).',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    filters: Type.Object(
      {
        max_bytes: Type.Integer({ minimum: 1024, default: 65536, description: 'Largest filter (stored, inline in a query, or in a request body), in bytes of JSON.' }),
        max_list_entries: Type.Integer({
          minimum: 1,
          default: 1000,
          description: 'Most entries of one filter list (types, not_types, senders, not_senders, rooms, not_rooms, event_fields).',
        }),
        max_wildcard_patterns: Type.Integer({ minimum: 1, default: 20, description: "Most patterns with '*' in one filter list of event types (types, not_types)." }),
      },
      { additionalProperties: false, default: {} },
    ),
    push: Type.Object(
      {
        max_rules_per_kind: Type.Integer({ minimum: 1, default: 100, description: 'Most push rules of one kind (override, content, room, sender, underride) a user may add.' }),
        max_pattern_length: Type.Integer({ minimum: 16, default: 255, description: 'Longest push rule pattern, key or member-count parameter, in characters.' }),
        max_match_length: Type.Integer({
          minimum: 256,
          default: 16384,
          description: 'Only the first this many UTF-16 code units of an event value (the body, a topic…) take part in push rule pattern matching.',
        }),
        max_pushers_per_user: Type.Integer({ minimum: 1, default: 100, description: 'Most pushers (POST /pushers/set) one user may have.' }),
        delivery: Type.Object(
          {
            enabled: Type.Boolean({
              default: true,
              description: 'Whether this instance delivers queued notifications to push gateways (any instance may; one delivery per pusher is in flight at a time).',
            }),
            backoff_base_ms: Type.Integer({ minimum: 1, default: 1000, description: 'Wait after a pusher\'s first failed delivery; doubled after each further failure.' }),
            backoff_max_ms: Type.Integer({ minimum: 1, default: 3_600_000, description: 'Longest wait between attempts to reach a failing push gateway.' }),
            give_up_after_ms: Type.Integer({
              minimum: 1000,
              default: 86_400_000,
              description: 'A pusher whose gateway has failed for this long has what is queued for it dropped (as Synapse, a day), so a gateway fixed later does not deliver stale alerts.',
            }),
            max_queued: Type.Integer({ minimum: 1, default: 100, description: 'Most notifications kept for a pusher whose gateway fails; older ones are dropped.' }),
            lease_ms: Type.Integer({
              minimum: 1000,
              default: 60_000,
              description: 'How long an instance holds a pusher while it delivers to it; another instance takes over once it lapses (its holder died). A request may take half of it.',
            }),
            poll_interval_ms: Type.Integer({ minimum: 100, default: 5000, description: 'How often each instance looks for pushers whose backoff or lease ran out.' }),
          },
          { additionalProperties: false, default: {} },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    log: Type.Object(
      {
        level: Type.Union(
          ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
          { default: 'info', description: 'fatal, error, warn, info, debug, trace or silent.' },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    media: Type.Object(
      {
        store: Type.Union([Type.Literal('fs'), Type.Literal('s3')], { default: 'fs', description: 'Where media bytes live: fs (a directory) or s3 (a bucket).' }),
        path: Type.Union([Type.String({ minLength: 1 }), Type.Null()], { default: null, description: 'Directory of the fs store. Null: data_dir/media.' }),
        s3: Type.Object(
          {
            bucket: Type.String({ default: '', description: 'Bucket of the s3 store (required when store is s3).' }),
            prefix: Type.String({ default: '', description: 'Key prefix inside the bucket, e.g. "media/".' }),
            region: Type.String({ default: 'us-east-1', description: 'AWS region of the bucket.' }),
            endpoint: Type.Union([Type.String({ pattern: '^https?://' }), Type.Null()], { default: null, description: 'Endpoint of an S3-compatible store (MinIO, Ceph, R2). Null: AWS.' }),
            force_path_style: Type.Boolean({ default: false, description: 'Address buckets as endpoint/bucket/key (most S3-compatible stores need this).' }),
          },
          { additionalProperties: false, default: {}, description: 'Credentials come from the standard AWS chain (environment, profile, instance or task role).' },
        ),
        max_upload_size: Type.Integer({ minimum: 1, default: 50 * 1024 * 1024, description: 'Largest upload in bytes (Synapse: 50M).' }),
        max_image_pixels: Type.Integer({ minimum: 1, default: 32_000_000, description: 'Largest image (in pixels) that is thumbnailed.' }),
        thumbnail_sizes: Type.Array(
          Type.Object(
            {
              width: Type.Integer({ minimum: 1, maximum: 4096 }),
              height: Type.Integer({ minimum: 1, maximum: 4096 }),
              method: Type.Union([Type.Literal('crop'), Type.Literal('scale')]),
            },
            { additionalProperties: false },
          ),
          {
            minItems: 1,
            default: [
              { width: 32, height: 32, method: 'crop' },
              { width: 96, height: 96, method: 'crop' },
              { width: 320, height: 240, method: 'scale' },
              { width: 640, height: 480, method: 'scale' },
              { width: 800, height: 600, method: 'scale' },
            ],
            description: 'Thumbnail sizes served; a request gets the closest one (Synapse defaults).',
          },
        ),
        unauthenticated_media_cutoff_ts: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], {
          default: null,
          description: 'The legacy unauthenticated /_matrix/media/v3/download and /thumbnail serve only media uploaded before this time (ms since the epoch). Null: they serve nothing.',
        }),
        max_pending_uploads: Type.Integer({ minimum: 0, default: 5, description: 'Asynchronous uploads (POST /media/v1/create) a user may have waiting for content.' }),
        pending_upload_lifetime_ms: Type.Integer({ minimum: 1000, default: 24 * 3600 * 1000, description: 'How long a created media ID waits for its content.' }),
        retention: Type.Object(
          {
            remote_media_lifetime_ms: Type.Union([Type.Integer({ minimum: 1000 }), Type.Null()], { default: null, description: 'Cached remote media not accessed for this long is deleted. Null: kept.' }),
            local_media_lifetime_ms: Type.Union([Type.Integer({ minimum: 1000 }), Type.Null()], { default: null, description: 'Local media not accessed for this long is deleted. Null: kept.' }),
            interval_ms: Type.Integer({ minimum: 1000, default: 3600 * 1000, description: 'How often retention and expired pending uploads are swept.' }),
          },
          { additionalProperties: false, default: {} },
        ),
        url_preview: Type.Object(
          {
            enabled: Type.Boolean({ default: false, description: 'Serve /media/preview_url (the server fetches URLs that users post).' }),
            max_spider_size: Type.Integer({ minimum: 1024, default: 10 * 1024 * 1024, description: 'Largest page or image fetched for a preview.' }),
            timeout_ms: Type.Integer({ minimum: 100, default: 10000, description: 'Time limit for fetching one preview (all redirects included).' }),
            max_html_bytes: Type.Integer({ minimum: 1024, default: 1024 * 1024, description: 'HTML read from a page for its preview; the rest is not read.' }),
            max_html_parse_ms: Type.Integer({ minimum: 1, default: 100, description: "Milliseconds of parsing spent on one page's HTML; the preview shows what was found by then." }),
            cache_ms: Type.Integer({ minimum: 0, default: 3600 * 1000, description: 'How long a preview is reused.' }),
          },
          { additionalProperties: false, default: {} },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    outbound: Type.Object(
      {
        ip_range_blocklist: Type.Array(Type.String(), {
          default: [...DEFAULT_IP_RANGE_BLOCKLIST],
          description: 'CIDRs no outbound request (federation, URL previews, identity servers, push gateways) may reach, checked on every address a name resolves to at connect time. Default: loopback, private, CGNAT, link-local, multicast and other special-purpose ranges (Synapse\'s ip_range_blacklist and more).',
        }),
        ip_range_allowlist: Type.Array(Type.String(), {
          default: [],
          description: 'CIDRs outbound requests may reach even though ip_range_blocklist covers them (a peer on the private network; tests allow 127.0.0.0/8).',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    identity_server: Type.Object(
      {
        third_party_invites: Type.Boolean({
          default: true,
          description: 'Invite by e-mail address through the identity server a client names (POST /rooms/{roomId}/invite with id_server, createRoom invite_3pid), and accept the bindings identity servers report (/_matrix/federation/v1/3pid/onbind). Requests to identity servers go through outbound.ip_range_*.',
        }),
        timeout_ms: Type.Integer({ minimum: 100, default: 10000, description: 'Time limit for one request to an identity server (lookup, store-invite, key validity).' }),
        tls_verify: Type.Boolean({
          default: true,
          description: "Check identity servers' certificates (system CAs and federation.ca_file). False only for test setups whose identity server has no valid certificate (SyTest's; Synapse: use_insecure_ssl_client_just_for_testing_do_not_use).",
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    federation: Type.Object(
      {
        listen: Type.Object(
          {
            host: Type.String({ default: '0.0.0.0', description: 'Address of the federation TLS listener.' }),
            port: Type.Union([Type.Integer({ minimum: 0, maximum: 65535 }), Type.Null()], {
              default: null,
              description: 'Port of a TLS listener serving /_matrix/federation, /_matrix/key and /_matrix/media to other servers (8448 by convention). Null: none; listen.port serves these paths too, e.g. behind a load balancer that terminates TLS.',
            }),
          },
          { additionalProperties: false, default: {} },
        ),
        tls_certificate_file: Type.Union([Type.String({ minLength: 1 }), Type.Null()], { default: null, description: 'PEM certificate chain of the federation listener (for the server name).' }),
        tls_private_key_file: Type.Union([Type.String({ minLength: 1 }), Type.Null()], { default: null, description: 'PEM private key of the federation listener.' }),
        ca_file: Type.Union([Type.String({ minLength: 1 }), Type.Null()], {
          default: null,
          description: 'PEM file of extra CA certificates trusted for outbound federation, beside the system store (a private CA, a test CA). Null: the system store only.',
        }),
        trusted_key_servers: Type.Array(
          Type.Object(
            {
              server_name: Type.String({ minLength: 1 }),
              verify_keys: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'key ID → unpadded Base64 public key; the notary\'s answers must carry one of these signatures.' })),
            },
            { additionalProperties: false },
          ),
          {
            default: [{ server_name: 'matrix.org' }],
            description: 'Notary servers asked for a server\'s keys when that server does not answer itself (Synapse: trusted_key_servers). Without verify_keys, the notary\'s own keys are fetched from it directly.',
          },
        ),
        sender: Type.Object(
          {
            enabled: Type.Boolean({
              default: true,
              description: 'Whether this instance sends queued events and EDUs to other servers (any instance may; one transaction per destination is in flight at a time).',
            }),
            backoff_base_ms: Type.Integer({ minimum: 1, default: 5000, description: 'Wait after a destination\'s first failed transaction; doubled after each further failure.' }),
            backoff_max_ms: Type.Integer({ minimum: 1, default: 3_600_000, description: 'Longest wait between attempts to reach a failing destination.' }),
            lease_ms: Type.Integer({
              minimum: 1000,
              default: 120_000,
              description: 'How long an instance holds a destination while it sends to it; another instance takes over once it lapses (its holder died). A transaction\'s request may take half of it.',
            }),
            catch_up_max_events: Type.Integer({
              minimum: 1,
              default: 500,
              description: 'A destination further behind than this many events (it was unreachable) gets only the newest event of each room; it fetches the rest as missing events.',
            }),
            poll_interval_ms: Type.Integer({ minimum: 100, default: 5000, description: 'How often each instance looks for destinations whose backoff or lease ran out.' }),
          },
          { additionalProperties: false, default: {} },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    email: Type.Object(
      {
        smtp_host: Type.Union([Type.String({ minLength: 1 }), Type.Null()], {
          default: null,
          description: 'SMTP server that sends mail: validation of e-mail addresses added to accounts, password resets, sign-up with an e-mail address (Synapse: email.smtp_host). Null: no mail is sent, and those endpoints answer M_THREEPID_MEDIUM_NOT_SUPPORTED.',
        }),
        smtp_port: Type.Integer({ minimum: 1, maximum: 65535, default: 25, description: 'Port of the SMTP server (465 with force_tls, 587 or 25 with STARTTLS).' }),
        smtp_user: Type.Union([Type.String({ minLength: 1 }), Type.Null()], { default: null, description: 'User name for SMTP authentication (null: none).' }),
        smtp_pass: Type.Union([Type.String({ minLength: 1 }), Type.Null()], { default: null, description: 'Password for SMTP authentication, with smtp_user.' }),
        force_tls: Type.Boolean({ default: false, description: 'TLS from the first byte (implicit TLS, usually port 465) instead of STARTTLS.' }),
        require_transport_security: Type.Boolean({
          default: false,
          description: 'Refuse to send unless the server offers STARTTLS (without it, STARTTLS is used when offered).',
        }),
        enable_tls: Type.Boolean({ default: true, description: 'False: never use STARTTLS, even when offered (a local relay without a certificate).' }),
        tls_verify: Type.Boolean({ default: true, description: "Check the SMTP server's certificate against the system CAs." }),
        timeout_ms: Type.Integer({ minimum: 100, default: 30000, description: 'Time limit for connecting to and talking with the SMTP server.' }),
        notif_from: Type.Union([Type.String({ minLength: 3 }), Type.Null()], {
          default: null,
          description: 'Sender of the mails, e.g. "%(app)s <noreply@example.org>" (%(app)s is replaced by app_name). Null: "<app_name> <noreply@<server_name without port>>".',
        }),
        app_name: Type.String({ minLength: 1, maxLength: 100, default: 'Matrix', description: 'Name used in subjects, bodies and pages of the mails.' }),
        validation_token_lifetime_ms: Type.Integer({
          minimum: 60_000,
          default: 3_600_000,
          description: 'How long the link in a validation or password-reset mail works (Synapse: validation_token_lifetime).',
        }),
        session_lifetime_ms: Type.Integer({
          minimum: 60_000,
          default: 86_400_000,
          description: 'How long a validation session (a requestToken sid) may be used, validated or not.',
        }),
        enable_notifs: Type.Boolean({
          default: false,
          description: 'Digest mails of missed messages (Synapse: email.enable_notifs): POST /pushers/set accepts kind "email" (app_id "m.email", pushkey one of the user\'s validated addresses). Needs smtp_host.',
        }),
        notif_for_new_users: Type.Boolean({
          default: true,
          description: 'With enable_notifs: an e-mail pusher is created for an address when it is added to an account (at sign-up or later), as Synapse does for new users.',
        }),
        client_base_url: Type.String({
          pattern: '^https?://',
          maxLength: 2048,
          default: 'https://matrix.to',
          description: 'Where the room links in digest mails point (Synapse: email.client_base_url): matrix.to links, or a web client such as "https://app.element.io" (links to #/room/<room_id>).',
        }),
        notif_delay_ms: Type.Integer({
          minimum: 0,
          default: 600_000,
          description: 'How long a notifying event stays unread before it is mailed (the digest waits for the oldest one; Synapse waits 10 minutes).',
        }),
        notif_throttle_ms: Type.Integer({
          minimum: 0,
          default: 3_600_000,
          description: 'Least time between two digest mails to one address: what arrives meanwhile waits for the next mail.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    voip: Type.Object(
      {
        turn_uris: Type.Array(Type.String({ minLength: 1, maxLength: 2048 }), {
          default: [],
          maxItems: 32,
          description: 'TURN/STUN URIs given to clients for calls (GET /voip/turnServer), e.g. "turns:turn.example.org:5349?transport=tcp". Empty: no relay is offered.',
        }),
        turn_shared_secret: Type.Union([Type.String({ minLength: 1 }), Type.Null()], {
          default: null,
          description: "coturn's static-auth-secret (use-auth-secret): each user gets time-limited credentials made with it (Synapse: turn_shared_secret).",
        }),
        turn_username: Type.Union([Type.String({ minLength: 1 }), Type.Null()], { default: null, description: 'Fixed TURN username, when there is no shared secret (Synapse: turn_username).' }),
        turn_password: Type.Union([Type.String({ minLength: 1 }), Type.Null()], { default: null, description: 'Fixed TURN password, with turn_username.' }),
        turn_user_lifetime_ms: Type.Integer({ minimum: 60_000, maximum: 7 * 86_400_000, default: 3_600_000, description: 'How long credentials made with the shared secret stay valid.' }),
        turn_allow_guests: Type.Boolean({ default: true, description: 'Guest accounts get TURN credentials too (Synapse: turn_allow_guests). False: a guest gets none, so calls go without relays.' }),
      },
      { additionalProperties: false, default: {} },
    ),
    metrics: Type.Object(
      {
        enabled: Type.Boolean({ default: false, description: 'Serve Prometheus metrics on a separate listener.' }),
        host: Type.String({ default: '127.0.0.1', description: 'Address of the metrics listener.' }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 9009, description: 'Port of the metrics listener.' }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
)

export type ConfigInput = Static<typeof ConfigSchema>

/** The validated configuration, with derived values filled in. */
export interface Config extends ConfigInput {
  readonly public_baseurl: string
  /** data_dir resolved to an absolute path. */
  readonly data_dir: string
}
