# embed.cmake: writes the file IN as a C string constant api_openapi_json into OUT
# (hex bytes, so any content is safe). Run with cmake -P.
file(READ ${IN} HEX HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," BYTES "${HEX}")
file(WRITE ${OUT} "/* generated from docs/openapi.json by src/api/embed.cmake; do not edit */\n"
                  "const char api_openapi_json[] = {${BYTES} 0x00};\n")
