/*
 * MSS Platform gateway helpers (njs 0.7.9: ES5 style only - var, function, no
 * destructuring, no for...of, no async). Every export is a synchronous js_set handler.
 *
 * The token payload is decoded here WITHOUT verifying it: the result only chooses a
 * rate-limit bucket. Authentication is done by the introspection endpoint
 * (auth_request), and the services verify the token again.
 *
 * Module top-level code runs on every request: keep it to constants.
 */

var WS_PATH = '/api/notifications/ws';
var MAX_TOKEN_LENGTH = 8192;
var MAX_CLAIM_LENGTH = 128;
var MAX_PATH_LENGTH = 1024;

/*
 * The path the client asked for. js_set also runs inside the auth_request subrequest,
 * where r.uri is the subrequest's and r.parent is undefined, but $request_uri is still
 * the client's (raw: an unnormalised spelling of the path just does not match).
 */
function clientPath(r) {
    var raw = r.rawVariables.request_uri;
    var requestUri = raw ? raw.toString() : '';
    var query = requestUri.indexOf('?');
    return query < 0 ? requestUri : requestUri.slice(0, query);
}

/* The token the websocket client sends as "Sec-WebSocket-Protocol: bearer, <token>". */
function websocketToken(r) {
    if (clientPath(r) !== WS_PATH) {
        return '';
    }
    var proto = r.headersIn['Sec-WebSocket-Protocol'];
    if (!proto) {
        return '';
    }
    var parts = proto.split(',');
    if (parts.length < 2 || parts[0].trim().toLowerCase() !== 'bearer') {
        return '';
    }
    return parts[1].trim();
}

/* The bearer token of the request, or '' when there is none. */
function bearerToken(r) {
    var auth = r.headersIn['Authorization'];
    if (auth) {
        var m = /^[Bb][Ee][Aa][Rr][Ee][Rr][ \t]+([^ \t]+)[ \t]*$/.exec(auth);
        return m ? m[1] : '';
    }
    return websocketToken(r);
}

/* The Authorization header the introspection endpoint should check. */
function introspectAuthorization(r) {
    var auth = r.headersIn['Authorization'];
    if (auth) {
        return auth;
    }
    var ws = websocketToken(r);
    return ws ? 'Bearer ' + ws : '';
}

/* Cache key of the introspection answer: a hash, so no token is written to disk. */
function introspectCacheKey(r) {
    var crypto = require('crypto');
    return crypto.createHash('sha256').update(introspectAuthorization(r)).digest('base64url');
}

/* The unverified JWT payload as an object, or null. */
function unverifiedClaims(r) {
    var token = bearerToken(r);
    if (!token || token.length > MAX_TOKEN_LENGTH) {
        return null;
    }
    var parts = token.split('.');
    if (parts.length !== 3 || !parts[1]) {
        return null;
    }
    try {
        var claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString());
        return (claims !== null && typeof claims === 'object') ? claims : null;
    } catch (e) {
        return null;
    }
}

/* A claim usable as a bucket name, or ''. */
function claimValue(claims, name) {
    if (claims === null) {
        return '';
    }
    var value = claims[name];
    if (typeof value !== 'string' || value.length === 0 || value.length > MAX_CLAIM_LENGTH) {
        return '';
    }
    return value;
}

/* The client address bucket: the key is never empty. */
function addressKey(r) {
    return 'ip:' + r.remoteAddress;
}

/* Alert ingestion (POST /api/alerts, POST /api/alerts/batch) has its own, larger
 * per-organization budget instead of the per-user and per-organization ones: a SIEM
 * feeding one customer is one "user" sending far more than a person does. */
function isIngestion(r) {
    return r.method === 'POST' && (r.uri === '/api/alerts' || r.uri === '/api/alerts/batch');
}

function orgKey(r) {
    var org = claimValue(unverifiedClaims(r), 'org');
    return org ? 'o:' + org : addressKey(r);
}

/* js_set $mss_rate_key: per-user limit bucket (sub claim, else the client address);
 * empty (not counted) for alert ingestion. */
function rateUserKey(r) {
    if (isIngestion(r)) {
        return '';
    }
    var sub = claimValue(unverifiedClaims(r), 'sub');
    return sub ? 'u:' + sub : addressKey(r);
}

/* js_set $mss_org_rate_key: per-organization limit bucket (org claim, else the address);
 * empty (not counted) for alert ingestion. */
function rateOrgKey(r) {
    return isIngestion(r) ? '' : orgKey(r);
}

/* js_set $mss_ingest_rate_key: the ingestion bucket of the organization; empty otherwise. */
function rateIngestKey(r) {
    return isIngestion(r) ? orgKey(r) : '';
}

function unicodeEscape(c) {
    return '\\u' + ('0000' + c.toString(16)).slice(-4);
}

/* Escapes one string for use inside a JSON string literal (ASCII output). */
function jsonEscape(s) {
    var out = '';
    for (var i = 0; i < s.length; i++) {
        var c = s.charCodeAt(i);
        if (c === 34) {
            out += '\\"';
        } else if (c === 92) {
            out += '\\\\';
        } else if (c >= 32 && c < 127) {
            out += s.charAt(i);
        } else if (c <= 0xffff) {
            out += unicodeEscape(c);
        } else {
            c -= 0x10000;
            out += unicodeEscape(0xd800 + (c >> 10)) + unicodeEscape(0xdc00 + (c & 0x3ff));
        }
    }
    return out;
}

/*
 * js_set $mss_error_path: the decoded request path, escaped for the error envelope.
 * r.uri is a byte string in njs 0.7.9; the raw variable is decoded as UTF-8 instead
 * (invalid bytes become U+FFFD).
 */
function errorPath(r) {
    try {
        var raw = r.rawVariables.uri;
        var uri = raw ? raw.toString() : '';
        if (uri.length > MAX_PATH_LENGTH) {
            uri = uri.slice(0, MAX_PATH_LENGTH);
        }
        return jsonEscape(uri);
    } catch (e) {
        return '';
    }
}

/*
 * js_set $mss_request_path: the path as the client sent it (still percent-encoded, no
 * query), escaped for the envelope of errors answered after an internal redirect.
 */
function requestPath(r) {
    try {
        var path = clientPath(r);
        if (path.length > MAX_PATH_LENGTH) {
            path = path.slice(0, MAX_PATH_LENGTH);
        }
        return jsonEscape(path);
    } catch (e) {
        return '';
    }
}

export default {
    rateUserKey: rateUserKey,
    rateOrgKey: rateOrgKey,
    rateIngestKey: rateIngestKey,
    introspectAuthorization: introspectAuthorization,
    introspectCacheKey: introspectCacheKey,
    errorPath: errorPath,
    requestPath: requestPath
};
